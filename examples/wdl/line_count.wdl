version 1.0

# Count the lines of a text file.
task line_count {
  input {
    File text
  }
  command <<<
    # The file comes in on stdin, so wc prints the bare number, without the file name.
    wc -l < '~{text}'
  >>>
  output {
    Int lines = read_int(stdout())
  }
}
