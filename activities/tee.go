package activities

import (
	"io"
	"sync"
	"sync/atomic"
)

// teeParallel copies src to every writer like io.Copy to
// io.MultiWriter(ws...), but each writer consumes the stream on its own
// goroutine, so the read and the consumers (SHA-256, the stored checksum
// and content checks, the malware scanner, a plaintext upload) overlap
// instead of taking turns. Buffers are recycled once every writer is done
// with them: memory is nbuf × bufSize whatever the object's size. The
// first writer error stops the read and is returned.
func teeParallel(src io.Reader, bufSize, nbuf int, ws ...io.Writer) (int64, error) {
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
	errs := make([]error, len(ws))
	var failed atomic.Bool
	var wg sync.WaitGroup
	ins := make([]chan chunk, len(ws))
	for i, w := range ws {
		ins[i] = make(chan chunk, nbuf)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ins[i] {
				if errs[i] == nil {
					if _, err := w.Write(c.buf[:c.n]); err != nil {
						errs[i] = err
						failed.Store(true)
					}
				}
				release(c)
			}
		}()
	}

	var total int64
	var readErr error
	for !failed.Load() {
		buf := <-free
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			refs := &atomic.Int32{}
			refs.Store(int32(len(ws)))
			c := chunk{buf: buf, n: n, refs: refs}
			for _, in := range ins {
				in <- c
			}
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
	for _, in := range ins {
		close(in)
	}
	wg.Wait()
	if readErr != nil {
		return total, readErr
	}
	for _, err := range errs {
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
