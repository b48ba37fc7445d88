package plugin

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// clockEntrySize is the packed size of one vector clock entry.
const clockEntrySize = sdk.KeySize + 8

func packClock(c sdk.VectorClock) []byte {
	buf := make([]byte, 0, len(c)*clockEntrySize)
	for _, e := range c {
		buf = append(buf, e.Writer[:]...)
		buf = binary.LittleEndian.AppendUint64(buf, e.Length)
	}
	return buf
}

func unpackClock(buf []byte) (sdk.VectorClock, error) {
	if len(buf)%clockEntrySize != 0 {
		return nil, fmt.Errorf("%w: packed vector clock of %d bytes", sdk.ErrInvalid, len(buf))
	}
	if len(buf) == 0 {
		return nil, nil
	}
	c := make(sdk.VectorClock, len(buf)/clockEntrySize)
	for i := range c {
		b := buf[i*clockEntrySize:]
		copy(c[i].Writer[:], b)
		c[i].Length = binary.LittleEndian.Uint64(b[sdk.KeySize:])
	}
	return c, nil
}

// resolverClient is the host's side: sdk.Resolver over gRPC.
type resolverClient struct {
	c pb.ResolverClient
}

func (r *resolverClient) Resolve(ctx context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	req := &pb.ResolveRequest{Sets: make([]*pb.CandidateSet, len(sets))}
	for i, set := range sets {
		ps := &pb.CandidateSet{Candidates: make([]*pb.Candidate, len(set))}
		for j, c := range set {
			ps.Candidates[j] = &pb.Candidate{Writer: c.Writer[:], Seq: c.Seq, WallClock: c.WallClock, Clock: packClock(c.Clock), Tombstone: c.Tombstone}
		}
		req.Sets[i] = ps
	}
	resp, err := r.c.Resolve(ctx, req)
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	if len(resp.Resolutions) != len(sets) {
		return nil, fmt.Errorf("resolver plugin: %d resolutions for %d sets", len(resp.Resolutions), len(sets))
	}
	out := make([]sdk.Resolution, len(sets))
	for i, pr := range resp.Resolutions {
		n := uint32(len(sets[i]))
		if pr.Winner >= n {
			return nil, fmt.Errorf("resolver plugin: set %d: winner %d of %d candidates", i, pr.Winner, n)
		}
		out[i].Winner = int(pr.Winner)
		for _, c := range pr.Concurrent {
			if c >= n {
				return nil, fmt.Errorf("resolver plugin: set %d: concurrent candidate %d of %d", i, c, n)
			}
			out[i].Concurrent = append(out[i].Concurrent, int(c))
		}
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
	sets := make([][]sdk.Candidate, len(req.Sets))
	for i, ps := range req.Sets {
		if len(ps.Candidates) == 0 {
			return nil, toStatus(fmt.Errorf("%w: candidate set %d is empty", sdk.ErrInvalid, i))
		}
		sets[i] = make([]sdk.Candidate, len(ps.Candidates))
		for j, pc := range ps.Candidates {
			c := &sets[i][j]
			if c.Writer, err = toKey(pc.Writer); err != nil {
				return nil, toStatus(err)
			}
			if c.Clock, err = unpackClock(pc.Clock); err != nil {
				return nil, toStatus(err)
			}
			c.Seq, c.WallClock, c.Tombstone = pc.Seq, pc.WallClock, pc.Tombstone
		}
	}
	res, err := impl.(sdk.Resolver).Resolve(ctx, sets)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.ResolveResponse{Resolutions: make([]*pb.Resolution, len(res))}
	for i, r := range res {
		pr := &pb.Resolution{Winner: uint32(r.Winner)}
		for _, c := range r.Concurrent {
			pr.Concurrent = append(pr.Concurrent, uint32(c))
		}
		resp.Resolutions[i] = pr
	}
	return resp, nil
}
