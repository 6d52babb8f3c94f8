version 1.0

task say {
  input {
    String name
  }
  command <<<
    echo "imported task says ~{name}"
  >>>
  output {
    String said = read_string(stdout())
  }
}
