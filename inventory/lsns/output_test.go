package lsns

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// countingWriter records the size of each Write.
type countingWriter struct {
	bytes.Buffer
	writes []int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// TestWriteCellsLargeTable: a table larger than the output buffer goes out
// in several writes whose concatenation is the table laid out as lsns
// lays it out (numbers right-aligned, text left-aligned and padded by
// runes, not bytes, the last column unpadded), and raw output is single
// spaced.
func TestWriteCellsLargeTable(t *testing.T) {
	var cells [][]string
	cells = append(cells, []string{"NS", "TYPE", "NPROCS", "COMMAND"})
	for i := range 3000 {
		ns := fmt.Sprint(4026531840 + i)
		if i%5 == 0 {
			ns = "└─" + ns // the tree drawn in NS (-T parent): multi-byte, padded by runes
		}
		cells = append(cells, []string{ns, []string{"net", "mnt", "cgroup"}[i%3], fmt.Sprint(i % 1234), strings.Repeat("x", i%97)})
	}
	right := []bool{false, false, true, false}

	// The reference: widths by rune count, padding with strings.Repeat.
	width := make([]int, len(right))
	for _, l := range cells {
		for j, s := range l {
			width[j] = max(width[j], utf8.RuneCountInString(s))
		}
	}
	var want strings.Builder
	for _, l := range cells {
		for j, s := range l {
			if j > 0 {
				want.WriteByte(' ')
			}
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(s))
			switch {
			case j == len(right)-1:
				want.WriteString(s)
			case right[j]:
				want.WriteString(pad + s)
			default:
				want.WriteString(s + pad)
			}
		}
		want.WriteByte('\n')
	}

	var w countingWriter
	if err := writeCells(&w, cells, right, false); err != nil {
		t.Fatal(err)
	}
	if w.String() != want.String() {
		t.Fatalf("table differs from the reference layout (%d vs %d bytes)", w.Len(), want.Len())
	}
	if len(w.writes) < 2 {
		t.Errorf("a %d-byte table went out in %d write(s), want it flushed as the buffer fills", w.Len(), len(w.writes))
	}

	var raw countingWriter
	if err := writeCells(&raw, cells[:3], right, true); err != nil {
		t.Fatal(err)
	}
	if got := strings.SplitN(raw.String(), "\n", 2)[0]; got != "NS TYPE NPROCS COMMAND" {
		t.Errorf("raw heading %q, want single spaces", got)
	}
}
