cwlVersion: v1.2
class: Workflow
doc: A sub-workflow of one step, so its step shows up as a task too.
inputs:
  count: File
outputs:
  report:
    type: File
    outputSource: report/report
steps:
  report:
    in:
      count: count
    out: [report]
    run:
      class: CommandLineTool
      baseCommand: [sed, "s/^/total bytes: /"]
      inputs:
        count:
          type: File
          inputBinding: {position: 1}
      stdout: report.txt
      stderr: report.err
      outputs:
        report:
          type: stdout
