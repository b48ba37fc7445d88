// Package benchsets makes the input of the resolvers' benchmarks, so
// that mtime and vclock are measured on the same batch.
package benchsets

import (
	"math/rand/v2"
	"time"

	"github.com/codrive/codrive/sdk"
)

// Writers is how many writers the clocks of Sets name.
const Writers = 10

// Sets returns n sets of 1 to 3 candidates from distinct writers out of
// Writers, each with a clock naming every writer, the same every call.
// Lengths are small, so candidates know each other about as often as
// not; wall clocks are spread over an hour.
func Sets(n int) [][]sdk.Candidate {
	rng := rand.New(rand.NewPCG(1, 2))
	var keys [Writers]sdk.FeedKey
	for i := range keys {
		// Increasing first bytes: the clocks below are sorted.
		keys[i][0] = byte(i * 16)
		for j := 1; j < len(keys[i]); j++ {
			keys[i][j] = byte(rng.Uint32())
		}
	}
	sets := make([][]sdk.Candidate, n)
	for i := range sets {
		set := make([]sdk.Candidate, 1+rng.IntN(3))
		for k, w := range rng.Perm(Writers)[:len(set)] {
			c := &set[k]
			c.Writer = keys[w]
			c.Seq = rng.Uint64N(8)
			c.WallClock = 1767225600*int64(time.Second) + rng.Int64N(int64(time.Hour))
			c.Clock = make(sdk.VectorClock, Writers)
			for v := range c.Clock {
				c.Clock[v] = sdk.ClockEntry{Writer: keys[v], Length: rng.Uint64N(10)}
			}
			c.Clock[w].Length = c.Seq
		}
		sets[i] = set
	}
	return sets
}
