cwlVersion: v1.2
class: Workflow
requirements:
  ScatterFeatureRequirement: {}
  SubworkflowFeatureRequirement: {}
inputs:
  texts: File[]
outputs:
  uppers:
    type: File[]
    outputSource: upper/upper
  report:
    type: File
    outputSource: summary/report
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
  summary:
    run: tools/report.cwl
    in:
      count: count/count
    out: [report]
