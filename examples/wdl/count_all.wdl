version 1.0

import "line_count.wdl" as lc

# Count the lines of each file; one line_count call per file.
workflow count_all {
  input {
    Array[File] texts
  }
  scatter (text in texts) {
    call lc.line_count { input: text = text }
  }
  output {
    Array[Int] counts = line_count.lines
  }
}
