package activities

import (
	"io"
	"sync"
	"sync/atomic"
)

// teeParallel copies src to a and b like io.Copy to io.MultiWriter(a, b),
// but a and b each consume the stream on their own goroutine, so the read
// and two CPU-bound consumers (SHA-256 on one side, the stored checksum and
// content checks on the other) overlap instead of taking turns. Buffers are
// recycled once both sides are done with them: memory is nbuf × bufSize
// whatever the object's size.
func teeParallel(src io.Reader, a, b io.Writer, bufSize, nbuf int) (int64, error) {
	type chunk struct {
		buf  []byte
		n    int
		refs *atomic.Int32
	}
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- make([]byte, bufSize)
	}
	release := func(c chunk) {
		if c.refs.Add(-1) == 0 {
			free <- c.buf[:cap(c.buf)]
		}
	}
	var errA, errB error
	var wg sync.WaitGroup
	consume := func(w io.Writer, in <-chan chunk, errp *error) {
		defer wg.Done()
		for c := range in {
			if *errp == nil {
				if _, err := w.Write(c.buf[:c.n]); err != nil {
					*errp = err
				}
			}
			release(c)
		}
	}
	toA, toB := make(chan chunk, nbuf), make(chan chunk, nbuf)
	wg.Add(2)
	go consume(a, toA, &errA)
	go consume(b, toB, &errB)

	var total int64
	var readErr error
	for {
		buf := <-free
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			refs := &atomic.Int32{}
			refs.Store(2)
			c := chunk{buf: buf, n: n, refs: refs}
			toA <- c
			toB <- c
			total += int64(n)
		} else {
			free <- buf
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	close(toA)
	close(toB)
	wg.Wait()
	for _, err := range []error{readErr, errA, errB} {
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
