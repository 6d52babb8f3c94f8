cwlVersion: v1.2
class: Workflow
doc: sleep.cwl over several durations at once (with --parallel), to cancel midway.
requirements:
  ScatterFeatureRequirement: {}
inputs:
  seconds: int[]
outputs: []
steps:
  nap:
    run: sleep.cwl
    scatter: seconds
    in:
      seconds: seconds
    out: []
