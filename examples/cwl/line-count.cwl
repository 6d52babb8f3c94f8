cwlVersion: v1.2
class: CommandLineTool
doc: Count the lines of a text file; the count is written to <name>.lines.
baseCommand: [wc, -l]
inputs:
  text: File
# The file comes in on stdin, so wc prints the bare number, without the file name.
stdin: $(inputs.text.path)
stdout: $(inputs.text.nameroot).lines
outputs:
  lines:
    type: stdout
