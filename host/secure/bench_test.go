package secure

import (
	"fmt"
	"testing"
)

// BenchmarkThroughput sends messages one way over TCP on loopback, through
// a reader on the other end; b.SetBytes makes it report MB/s of message
// bodies.
func BenchmarkThroughput(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			c, s := connected(b, tcpPair)
			body := pattern(size, 0)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			errc := make(chan error, 1)
			go func() {
				for range b.N {
					if err := c.WriteMessage(body); err != nil {
						errc <- err
						return
					}
				}
				errc <- c.Flush()
			}()
			for range b.N {
				if _, err := s.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}
