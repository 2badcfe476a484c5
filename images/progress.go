package images

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress redraws one line on a terminal while layers download: how many
// bytes of how many, at what rate. With no writer it only counts.
type progress struct {
	w       io.Writer
	name    string
	layers  int
	total   int64
	read    atomic.Int64
	start   time.Time
	stop    chan struct{}
	stopped sync.WaitGroup
}

func newProgress(w io.Writer, name string, fetch []layerFetch) *progress {
	p := &progress{w: w, name: name, layers: len(fetch), start: time.Now(), stop: make(chan struct{})}
	for _, f := range fetch {
		p.total += f.size
	}
	if w != nil {
		p.stopped.Add(1)
		go p.loop()
	}
	return p
}

func (p *progress) counter() func(int) {
	return func(n int) { p.read.Add(int64(n)) }
}

func (p *progress) loop() {
	defer p.stopped.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.draw()
			fmt.Fprintln(p.w)
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *progress) draw() {
	read := p.read.Load()
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(read) / secs
	}
	const width = 30
	bar := ""
	if p.total > 0 {
		done := int(float64(width) * float64(read) / float64(p.total))
		done = min(max(done, 0), width)
		for i := 0; i < width; i++ {
			if i < done {
				bar += "="
			} else {
				bar += " "
			}
		}
		fmt.Fprintf(p.w, "\r%s: %d layers [%s] %s / %s %s/s ", p.name, p.layers, bar, mb(read), mb(p.total), mb(int64(rate)))
		return
	}
	fmt.Fprintf(p.w, "\r%s: %d layers %s %s/s ", p.name, p.layers, mb(read), mb(int64(rate)))
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	close(p.stop)
	p.stopped.Wait()
}

func mb(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
