version 1.0

workflow failing {
  call boom
}

task boom {
  command <<<
    echo "about to fail" >&2
    exit 3
  >>>
}
