version 1.1

workflow shout {
  input {
    Array[File] texts
  }
  scatter (text in texts) {
    call upper { input: text = text }
  }
  call gather { input: parts = upper.out }
  output {
    Array[File] uppers = upper.out
    File all = gather.all
  }
}

task upper {
  input {
    File text
  }
  command <<<
    tr a-z A-Z < ~{text} > upper.txt
  >>>
  output {
    File out = "upper.txt"
  }
}

task gather {
  input {
    Array[File] parts
  }
  command <<<
    cat ~{sep(" ", parts)} > all.txt
  >>>
  output {
    File all = "all.txt"
  }
}
