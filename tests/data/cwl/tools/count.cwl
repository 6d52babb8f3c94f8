cwlVersion: v1.2
class: CommandLineTool
baseCommand: [wc, -c]
inputs:
  files:
    type: File[]
    inputBinding: {position: 1}
stdout: count.txt
outputs:
  count:
    type: stdout
