cwlVersion: v1.2
class: Workflow
doc: Count the lines of each file; one line-count.cwl job per file.
requirements:
  ScatterFeatureRequirement: {}
inputs:
  texts: File[]
outputs:
  counts:
    type: File[]
    outputSource: count/lines
steps:
  count:
    run: line-count.cwl
    scatter: text
    in:
      text: texts
    out: [lines]
