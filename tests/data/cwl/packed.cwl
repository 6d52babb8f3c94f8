{
  "cwlVersion": "v1.2",
  "$graph": [
    {
      "id": "#main",
      "class": "CommandLineTool",
      "baseCommand": "echo",
      "inputs": [{"id": "#main/message", "type": "string", "inputBinding": {"position": 1}}],
      "stdout": "out.txt",
      "outputs": [{"id": "#main/out", "type": "stdout"}]
    }
  ]
}
