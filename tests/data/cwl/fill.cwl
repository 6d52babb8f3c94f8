cwlVersion: v1.2
class: CommandLineTool
doc: Writes more than the disk holds.
baseCommand: [dd, if=/dev/zero, of=big, bs=1M]
arguments: [count=$(inputs.megabytes)]
requirements:
  InlineJavascriptRequirement: {}
inputs:
  megabytes: int
outputs: []
