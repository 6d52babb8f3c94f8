version 1.0

workflow sleepy {
  input {
    Int n = 3
  }
  scatter (i in range(n)) {
    call nap { input: i = i }
  }
}

task nap {
  input {
    Int i
  }
  command <<<
    echo "napping ~{i}"
    sleep 300
  >>>
}
