version 1.2

workflow retrying {
  call flaky
  output {
    String greeting = flaky.greeting
    Int attempts = flaky.attempts
  }
}

task flaky {
  input {
    env String GREETING = "hello from the environment"
  }
  command <<<
    # The task folder outlives each try's work folder: count tries there.
    echo x >> ../../tries
    if [ "$(wc -l < ../../tries)" -lt 2 ]; then
      echo "first try fails" >&2
      exit 1
    fi
    echo "$GREETING"
    wc -l < ../../tries > attempts.txt
  >>>
  output {
    String greeting = read_string(stdout())
    Int attempts = read_int("attempts.txt")
  }
  requirements {
    max_retries: 2
  }
}
