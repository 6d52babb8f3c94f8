cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
inputs:
  texts: File[]
outputs:
  uppers:
    type: File[]
    outputSource: upper/upper
  count:
    type: File
    outputSource: count/count
steps:
  upper:
    run: tools/upper.cwl
    scatter: text
    in:
      text: texts
    out: [upper]
  count:
    run: tools/count.cwl
    in:
      files: upper/upper
    out: [count]
