version 1.0

workflow hello {
  input {
    String who
    File greeting
  }
  call greet { input: who = who, greeting = greeting }
  output {
    File out = greet.out
    String line = greet.line
  }
}

task greet {
  input {
    String who
    File greeting
  }
  command <<<
    echo "$(cat ~{greeting}) ~{who}" | tee out.txt
  >>>
  output {
    File out = "out.txt"
    String line = read_string(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
  }
}
