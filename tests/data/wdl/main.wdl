version 1.0

import "lib/tasks.wdl" as lib

workflow main {
  input {
    String name
  }
  call lib.say { input: name = name }
  output {
    String said = say.said
  }
}
