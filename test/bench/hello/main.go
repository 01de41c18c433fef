// Command hello is the baseline of the warm-enable benchmark: a static Go
// binary that prints one line, built with the handler's flags.
package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
