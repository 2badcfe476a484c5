package lsns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSONNamespace is one entry of the lsns -J document, keyed by lower-case
// column names. Children holds nested rows in a tree.
type JSONNamespace map[string]any

// JSON returns the lsns -J document for rows: {"namespaces":[...]}. Keys
// come out in column order, as lsns writes them.
func JSON(rows []*Row, cols []Column) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("{\n   \"namespaces\": [")
	if err := writeJSONRows(&buf, rows, cols, 2); err != nil {
		return nil, err
	}
	buf.WriteString("\n   ]\n}\n")
	return buf.Bytes(), nil
}

// writeJSONRows writes rows in lsns's indentation (3 spaces a level), so
// a diff against lsns -J shows only real differences.
func writeJSONRows(buf *bytes.Buffer, rows []*Row, cols []Column, depth int) error {
	ind := strings.Repeat("   ", depth)
	for i, r := range rows {
		if i == 0 {
			buf.WriteString("\n" + ind[:len(ind)-3] + "   {")
		} else {
			buf.WriteString(",{")
		}
		for j, c := range cols {
			v, err := json.Marshal(c.value(r))
			if err != nil {
				return fmt.Errorf("encode %s: %w", c.Name, err)
			}
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(buf, "\n%s   %q: %s", ind, strings.ToLower(c.Name), v)
		}
		if len(r.Children) > 0 {
			fmt.Fprintf(buf, ",\n%s   \"children\": [", ind)
			if err := writeJSONRows(buf, r.Children, cols, depth+2); err != nil {
				return err
			}
			fmt.Fprintf(buf, "\n%s   ]", ind)
		}
		buf.WriteString("\n" + ind + "}")
	}
	return nil
}

// TableOptions are lsns's -n and -r, and the tree relation drawn.
type TableOptions struct {
	NoHeadings bool
	Raw        bool
	// Tree decides the column the tree is drawn in: NS for the parent
	// and owner relations, else COMMAND (as lsns does).
	Tree Tree
}

// WriteTable writes rows as lsns's table: right-aligned numbers, the tree
// drawn in the COMMAND column (or the last column), no padding after the
// last column. Raw output separates by one space and escapes spaces and
// control characters as \xHH, as libsmartcols does.
func WriteTable(w io.Writer, rows []*Row, cols []Column, o TableOptions) error {
	treeCol := len(cols) - 1
	want := "COMMAND"
	if o.Tree == TreeParent || o.Tree == TreeOwner {
		want = "NS"
	}
	for i, c := range cols {
		if c.Name == want {
			treeCol = i
		}
	}
	var cells [][]string
	if !o.NoHeadings {
		h := make([]string, len(cols))
		for i, c := range cols {
			h[i] = c.Name
		}
		cells = append(cells, h)
	}
	// One backing array for every row's cells.
	n := 0
	var count func(rs []*Row)
	count = func(rs []*Row) {
		for _, r := range rs {
			n++
			count(r.Children)
		}
	}
	count(rows)
	cells = slices.Grow(cells, n)
	all := make([]string, n*len(cols))
	var walk func(rs []*Row, prefix string, top bool)
	walk = func(rs []*Row, prefix string, top bool) {
		for i, r := range rs {
			line := all[:len(cols):len(cols)]
			all = all[len(cols):]
			for j, c := range cols {
				line[j] = cellText(c.value(r))
			}
			branch, next := "", ""
			if !top {
				branch, next = "├─", "│ "
				if i == len(rs)-1 {
					branch, next = "└─", "  "
				}
			}
			line[treeCol] = prefix + branch + line[treeCol]
			if o.Raw {
				for j := range line {
					line[j] = rawEscape(line[j])
				}
			}
			cells = append(cells, line)
			walk(r.Children, prefix+next, false)
		}
	}
	walk(rows, "", true)
	right := make([]bool, len(cols))
	for i, c := range cols {
		right[i] = c.Right && !(i == treeCol && want == "NS") // a drawn tree is left-aligned
	}
	return writeCells(w, cells, right, o.Raw)
}

func writeCells(w io.Writer, cells [][]string, right []bool, raw bool) error {
	// The widest cell per column first; then the lines go out through a
	// buffer of a fixed size, flushed as it fills. One buffer of the
	// whole table (and every cell's width kept) was a few hundred KiB of
	// fresh memory for a host's thousand-odd rows: on a machine where a
	// page fault costs 18 us, about 1.5 ms of nsagent lsns's serial tail.
	width := make([]int, len(right))
	for _, line := range cells {
		for j, s := range line {
			width[j] = max(width[j], textWidth(s))
		}
	}
	b := make([]byte, 0, 32<<10)
	pad := func(n int) {
		for ; n > len(spaces); n -= len(spaces) {
			b = append(b, spaces...)
		}
		b = append(b, spaces[:max(n, 0)]...)
	}
	for _, line := range cells {
		for j, s := range line {
			if j > 0 {
				b = append(b, ' ')
			}
			switch {
			case raw, j == len(right)-1 && !right[j]:
				b = append(b, s...)
			case right[j]:
				pad(width[j] - textWidth(s))
				b = append(b, s...)
			default:
				b = append(b, s...)
				pad(width[j] - textWidth(s))
			}
		}
		b = append(b, '\n')
		if len(b) > cap(b)-4096 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}

// textWidth is the number of runes in s (cells are ASCII but for the
// tree's box-drawing characters and what command lines hold).
func textWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.RuneCountInString(s)
		}
	}
	return len(s)
}

const spaces = "                                                                "

func cellText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case uint64:
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprint(v)
}

// rawEscape escapes what libsmartcols escapes in raw output.
func rawEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '\\' || c >= 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
