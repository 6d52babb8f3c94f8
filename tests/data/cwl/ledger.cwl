cwlVersion: v1.2
class: CommandLineTool
doc: Notes its message in a ledger (to count how often it ran) and echoes it.
baseCommand: [sh, -c, 'echo "$0" >> "$1"; sleep 0.3; echo "$0"']
inputs:
  message:
    type: string
    inputBinding: {position: 1}
  ledger:
    type: string
    inputBinding: {position: 2}
stdout: out.txt
outputs:
  out:
    type: stdout
