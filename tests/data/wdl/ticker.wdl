version 1.0

workflow ticker {
  call tick
}

task tick {
  command <<<
    for i in 1 2 3 4; do
      echo "line $i"
      sleep 0.4
    done
  >>>
}
