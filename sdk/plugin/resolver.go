package plugin

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// encodeSets turns candidate sets into the columns of a ResolveRequest,
// sending each writer key and each clock once. Clocks are recognised by
// identity (the union view shares one clock between the entries a writer
// wrote without seeing anything new), which costs nothing per candidate.
func encodeSets(sets [][]sdk.Candidate) *pb.ResolveRequest {
	n := 0
	for _, set := range sets {
		n += len(set)
	}
	req := &pb.ResolveRequest{
		Clocks:    [][]byte{nil}, // index 0: the empty clock
		SetSizes:  make([]uint32, len(sets)),
		Writer:    make([]uint32, 0, n),
		Seq:       make([]uint64, 0, n),
		WallClock: make([]int64, 0, n),
		Clock:     make([]uint32, 0, n),
		Tombstone: make([]bool, 0, n),
	}
	writers := map[sdk.FeedKey]uint32{}
	writer := func(k sdk.FeedKey) uint32 {
		i, ok := writers[k]
		if !ok {
			i = uint32(len(writers))
			writers[k] = i
			req.Writers = append(req.Writers, k[:]...)
		}
		return i
	}
	type clockID struct {
		first *sdk.ClockEntry
		n     int
	}
	clocks := map[clockID]uint32{}
	for i, set := range sets {
		req.SetSizes[i] = uint32(len(set))
		for _, c := range set {
			ci := uint32(0)
			if len(c.Clock) > 0 {
				id := clockID{&c.Clock[0], len(c.Clock)}
				var ok bool
				if ci, ok = clocks[id]; !ok {
					var buf []byte
					for _, e := range c.Clock {
						buf = binary.AppendUvarint(buf, uint64(writer(e.Writer)))
						buf = binary.AppendUvarint(buf, e.Length)
					}
					ci = uint32(len(req.Clocks))
					clocks[id] = ci
					req.Clocks = append(req.Clocks, buf)
				}
			}
			req.Writer = append(req.Writer, writer(c.Writer))
			req.Seq = append(req.Seq, c.Seq)
			req.WallClock = append(req.WallClock, c.WallClock)
			req.Clock = append(req.Clock, ci)
			req.Tombstone = append(req.Tombstone, c.Tombstone)
		}
	}
	return req
}

// decodeSets checks a ResolveRequest from another process and turns it
// back into candidate sets. Candidates with the same clock share it.
func decodeSets(req *pb.ResolveRequest) ([][]sdk.Candidate, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: resolve request: %s", sdk.ErrInvalid, fmt.Sprintf(format, args...))
	}
	if len(req.Writers)%sdk.KeySize != 0 {
		return nil, bad("writer table of %d bytes", len(req.Writers))
	}
	keys := make([]sdk.FeedKey, len(req.Writers)/sdk.KeySize)
	for i := range keys {
		copy(keys[i][:], req.Writers[i*sdk.KeySize:])
	}
	clocks := make([]sdk.VectorClock, len(req.Clocks))
	for i, buf := range req.Clocks {
		for len(buf) > 0 {
			w, n := binary.Uvarint(buf)
			if n <= 0 || w >= uint64(len(keys)) {
				return nil, bad("clock %d names no writer of the table", i)
			}
			buf = buf[n:]
			length, n := binary.Uvarint(buf)
			if n <= 0 {
				return nil, bad("clock %d: bad length", i)
			}
			buf = buf[n:]
			clocks[i] = append(clocks[i], sdk.ClockEntry{Writer: keys[w], Length: length})
		}
	}
	total := len(req.Writer)
	if len(req.Seq) != total || len(req.WallClock) != total || len(req.Clock) != total || len(req.Tombstone) != total {
		return nil, bad("candidate columns of different lengths")
	}
	sum := 0
	for i, size := range req.SetSizes {
		if size == 0 {
			return nil, bad("candidate set %d is empty", i)
		}
		sum += int(size)
		if sum > total {
			break
		}
	}
	if sum != total {
		return nil, bad("sets hold %d candidates, the columns %d", sum, total)
	}
	all := make([]sdk.Candidate, total)
	for j := range all {
		w, c := req.Writer[j], req.Clock[j]
		if w >= uint32(len(keys)) || c >= uint32(len(clocks)) {
			return nil, bad("candidate %d refers outside the tables", j)
		}
		all[j] = sdk.Candidate{Writer: keys[w], Seq: req.Seq[j], WallClock: req.WallClock[j], Clock: clocks[c], Tombstone: req.Tombstone[j]}
	}
	sets := make([][]sdk.Candidate, len(req.SetSizes))
	for i, size := range req.SetSizes {
		sets[i], all = all[:size:size], all[size:]
	}
	return sets, nil
}

// resolverClient is the host's side: sdk.Resolver over gRPC.
type resolverClient struct {
	c pb.ResolverClient
}

func (r *resolverClient) Resolve(ctx context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	for i, set := range sets {
		if len(set) == 0 {
			return nil, fmt.Errorf("%w: candidate set %d is empty", sdk.ErrInvalid, i)
		}
	}
	resp, err := r.c.Resolve(ctx, encodeSets(sets))
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	if len(resp.Winner) != len(sets) || len(resp.ConcurrentCounts) != len(sets) {
		return nil, fmt.Errorf("resolver plugin: %d verdicts for %d sets", len(resp.Winner), len(sets))
	}
	out := make([]sdk.Resolution, len(sets))
	conc := resp.Concurrent
	for i := range sets {
		n := uint32(len(sets[i]))
		if resp.Winner[i] >= n {
			return nil, fmt.Errorf("resolver plugin: set %d: winner %d of %d candidates", i, resp.Winner[i], n)
		}
		out[i].Winner = int(resp.Winner[i])
		k := resp.ConcurrentCounts[i]
		if k > uint32(len(conc)) {
			return nil, fmt.Errorf("resolver plugin: set %d: %d concurrent candidates, %d left in the answer", i, k, len(conc))
		}
		for _, c := range conc[:k] {
			if c >= n {
				return nil, fmt.Errorf("resolver plugin: set %d: concurrent candidate %d of %d", i, c, n)
			}
			out[i].Concurrent = append(out[i].Concurrent, int(c))
		}
		conc = conc[k:]
	}
	return out, nil
}

// resolverServer is the plugin's side: it serves an sdk.Resolver.
type resolverServer struct {
	pb.UnimplementedResolverServer
	srv *server
}

func (r *resolverServer) Resolve(ctx context.Context, req *pb.ResolveRequest) (*pb.ResolveResponse, error) {
	impl, err := r.srv.get()
	if err != nil {
		return nil, err
	}
	sets, err := decodeSets(req)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := impl.(sdk.Resolver).Resolve(ctx, sets)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(res) != len(sets) {
		return nil, toStatus(fmt.Errorf("resolver: %d verdicts for %d sets", len(res), len(sets)))
	}
	resp := &pb.ResolveResponse{Winner: make([]uint32, len(res)), ConcurrentCounts: make([]uint32, len(res))}
	for i, r := range res {
		resp.Winner[i] = uint32(r.Winner)
		resp.ConcurrentCounts[i] = uint32(len(r.Concurrent))
		for _, c := range r.Concurrent {
			resp.Concurrent = append(resp.Concurrent, uint32(c))
		}
	}
	return resp, nil
}
