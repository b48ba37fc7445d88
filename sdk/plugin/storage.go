package plugin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// Block reads are streamed in chunks of at most chunkBlocks blocks and
// about chunkBytes bytes, so one message never nears the size limit and
// the host can start on the first chunk while the plugin reads the next.
const (
	chunkBlocks = 512
	chunkBytes  = 1 << 20
)

// nodeSize is the packed size of one tree node: index, size, hash.
const nodeSize = 16 + sdk.KeySize

func packNodes(nodes []sdk.Node) []byte {
	buf := make([]byte, 0, len(nodes)*nodeSize)
	for _, n := range nodes {
		buf = binary.LittleEndian.AppendUint64(buf, n.Index)
		buf = binary.LittleEndian.AppendUint64(buf, n.Size)
		buf = append(buf, n.Hash[:]...)
	}
	return buf
}

func unpackNodes(buf []byte) ([]sdk.Node, error) {
	if len(buf)%nodeSize != 0 {
		return nil, fmt.Errorf("%w: packed nodes of %d bytes", sdk.ErrInvalid, len(buf))
	}
	nodes := make([]sdk.Node, len(buf)/nodeSize)
	for i := range nodes {
		b := buf[i*nodeSize:]
		nodes[i].Index = binary.LittleEndian.Uint64(b)
		nodes[i].Size = binary.LittleEndian.Uint64(b[8:])
		copy(nodes[i].Hash[:], b[16:nodeSize])
	}
	return nodes, nil
}

// packBlocks appends blocks back to back and lists their sizes.
func packBlocks(blocks [][]byte) (data []byte, sizes []uint32) {
	n := 0
	for _, b := range blocks {
		n += len(b)
	}
	data = make([]byte, 0, n)
	sizes = make([]uint32, len(blocks))
	for i, b := range blocks {
		data = append(data, b...)
		sizes[i] = uint32(len(b))
	}
	return data, sizes
}

// unpackBlocks splits data by sizes; the blocks alias data.
func unpackBlocks(data []byte, sizes []uint32) ([][]byte, error) {
	blocks := make([][]byte, len(sizes))
	off := 0
	for i, n := range sizes {
		if int(n) > len(data)-off {
			return nil, fmt.Errorf("%w: packed blocks of %d bytes are shorter than their sizes", sdk.ErrInvalid, len(data))
		}
		blocks[i] = data[off : off+int(n) : off+int(n)]
		off += int(n)
	}
	if off != len(data) {
		return nil, fmt.Errorf("%w: %d bytes of packed blocks left over", sdk.ErrInvalid, len(data)-off)
	}
	return blocks, nil
}

func toKey(b []byte) (sdk.FeedKey, error) {
	var k sdk.FeedKey
	if len(b) != len(k) {
		return k, fmt.Errorf("%w: feed key of %d bytes", sdk.ErrInvalid, len(b))
	}
	copy(k[:], b)
	return k, nil
}

func toHead(h *pb.Head) (sdk.Head, error) {
	out := sdk.Head{Fork: h.GetFork(), Length: h.GetLength()}
	if len(h.GetSignature()) != len(out.Signature) {
		return out, fmt.Errorf("%w: signature of %d bytes", sdk.ErrInvalid, len(h.GetSignature()))
	}
	copy(out.Signature[:], h.GetSignature())
	return out, nil
}

func fromHead(h sdk.Head) *pb.Head {
	return &pb.Head{Fork: h.Fork, Length: h.Length, Signature: h.Signature[:]}
}

// storageClient is the host's side: sdk.Storage over gRPC.
type storageClient struct {
	c pb.StorageClient
}

func (s *storageClient) Create(ctx context.Context, h sdk.FeedHeader) error {
	_, err := s.c.Create(ctx, &pb.CreateRequest{Key: h.Key[:], SecretKey: h.SecretKey})
	return fromCall(ctx, err)
}

func (s *storageClient) Feeds(ctx context.Context) ([]sdk.FeedKey, error) {
	r, err := s.c.Feeds(ctx, &pb.Empty{})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	if len(r.Keys)%sdk.KeySize != 0 {
		return nil, fmt.Errorf("storage plugin: %w: key list of %d bytes", sdk.ErrCorrupt, len(r.Keys))
	}
	keys := make([]sdk.FeedKey, len(r.Keys)/sdk.KeySize)
	for i := range keys {
		copy(keys[i][:], r.Keys[i*sdk.KeySize:])
	}
	return keys, nil
}

func (s *storageClient) Load(ctx context.Context, key sdk.FeedKey) (*sdk.FeedState, error) {
	r, err := s.c.Load(ctx, &pb.KeyRequest{Key: key[:]})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	st := &sdk.FeedState{Header: sdk.FeedHeader{SecretKey: r.SecretKey}}
	if st.Header.Key, err = toKey(r.Key); err != nil {
		return nil, fmt.Errorf("storage plugin: load %s: %w", key, err)
	}
	if r.Head != nil {
		if st.Head, err = toHead(r.Head); err != nil {
			return nil, fmt.Errorf("storage plugin: load %s: %w", key, err)
		}
	}
	if len(st.Header.SecretKey) == 0 {
		st.Header.SecretKey = nil
	}
	for _, p := range r.Present {
		st.Present = append(st.Present, sdk.Range{Start: p.Start, End: p.End})
	}
	if r.HasEvidence {
		st.Evidence = r.Evidence
		if st.Evidence == nil {
			st.Evidence = []byte{}
		}
	}
	return st, nil
}

func (s *storageClient) Write(ctx context.Context, key sdk.FeedKey, b *sdk.Batch) error {
	if b == nil {
		return fmt.Errorf("storage plugin: write to %s: nil batch: %w", key, sdk.ErrInvalid)
	}
	req := &pb.WriteRequest{
		Key:          key[:],
		Truncate:     b.Truncate,
		TruncateTo:   b.TruncateTo,
		BlockIndexes: make([]uint64, len(b.Blocks)),
		Nodes:        packNodes(b.Nodes),
		Evidence:     b.Evidence,
		HasEvidence:  b.Evidence != nil,
	}
	data := make([][]byte, len(b.Blocks))
	for i, blk := range b.Blocks {
		// Checked here too, so the error is the contract's, not gRPC's.
		if len(blk.Data) > sdk.MaxBlockSize {
			return fmt.Errorf("storage plugin: write to %s: block %d has %d bytes, more than %d: %w", key, blk.Index, len(blk.Data), sdk.MaxBlockSize, sdk.ErrInvalid)
		}
		req.BlockIndexes[i] = blk.Index
		data[i] = blk.Data
	}
	req.BlockData, req.BlockSizes = packBlocks(data)
	if b.Head != nil {
		req.Head = fromHead(*b.Head)
	}
	_, err := s.c.Write(ctx, req)
	return fromCall(ctx, err)
}

func (s *storageClient) ReadBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64) ([][]byte, error) {
	blocks := make([][]byte, 0, min(end-start, 1<<16))
	err := s.StreamBlocks(ctx, key, start, end, func(_ uint64, got [][]byte) error {
		blocks = append(blocks, got...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return blocks, nil
}

// StreamBlocks implements sdk.BlockStreamer: the plugin streams the range
// in chunks of about 1 MiB, and fn sees each as it arrives.
func (s *storageClient) StreamBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64, fn func(uint64, [][]byte) error) error {
	if end < start {
		return fmt.Errorf("storage plugin: read blocks [%d, %d) of %s: %w", start, end, key, sdk.ErrInvalid)
	}
	// The stream is cancelled on every return, so an early error never
	// leaves the plugin sending chunks nobody reads.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.c.ReadBlocks(ctx, &pb.ReadBlocksRequest{Key: key[:], Start: start, End: end})
	if err != nil {
		return fromCall(ctx, err)
	}
	next := start
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fromCall(ctx, err)
		}
		blocks, err := unpackBlocks(chunk.Data, chunk.Sizes)
		if err == nil && uint64(len(blocks)) > end-next {
			err = fmt.Errorf("%w: more blocks than asked for", sdk.ErrCorrupt)
		}
		if err != nil {
			return fmt.Errorf("storage plugin: read blocks [%d, %d) of %s: %w", start, end, key, err)
		}
		if err := fn(next, blocks); err != nil {
			return err
		}
		next += uint64(len(blocks))
	}
	if next != end {
		return fmt.Errorf("storage plugin: read blocks [%d, %d) of %s: %w: the stream ended at %d", start, end, key, sdk.ErrCorrupt, next)
	}
	return nil
}

func (s *storageClient) ReadNodes(ctx context.Context, key sdk.FeedKey, indexes []uint64) ([]sdk.Node, error) {
	r, err := s.c.ReadNodes(ctx, &pb.ReadNodesRequest{Key: key[:], Indexes: indexes})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	nodes, err := unpackNodes(r.Nodes)
	if err != nil {
		return nil, fmt.Errorf("storage plugin: read nodes of %s: %w", key, err)
	}
	return nodes, nil
}

func (s *storageClient) Delete(ctx context.Context, key sdk.FeedKey) error {
	_, err := s.c.Delete(ctx, &pb.KeyRequest{Key: key[:]})
	return fromCall(ctx, err)
}

func (s *storageClient) Close() error {
	_, err := s.c.Close(context.Background(), &pb.Empty{})
	return fromStatus(err)
}

// storageServer is the plugin's side: it serves an sdk.Storage.
type storageServer struct {
	pb.UnimplementedStorageServer
	srv *server
}

func (s *storageServer) impl() (sdk.Storage, error) {
	impl, err := s.srv.get()
	if err != nil {
		return nil, err
	}
	return impl.(sdk.Storage), nil
}

func (s *storageServer) Create(ctx context.Context, req *pb.CreateRequest) (*pb.Empty, error) {
	st, err := s.impl()
	if err != nil {
		return nil, err
	}
	key, err := toKey(req.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	secret := req.SecretKey
	if len(secret) == 0 {
		secret = nil
	}
	return &pb.Empty{}, toStatus(st.Create(ctx, sdk.FeedHeader{Key: key, SecretKey: secret}))
}

func (s *storageServer) Feeds(ctx context.Context, _ *pb.Empty) (*pb.FeedsResponse, error) {
	st, err := s.impl()
	if err != nil {
		return nil, err
	}
	keys, err := st.Feeds(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	buf := make([]byte, 0, len(keys)*sdk.KeySize)
	for _, k := range keys {
		buf = append(buf, k[:]...)
	}
	return &pb.FeedsResponse{Keys: buf}, nil
}

func (s *storageServer) Load(ctx context.Context, req *pb.KeyRequest) (*pb.LoadResponse, error) {
	st, err := s.impl()
	if err != nil {
		return nil, err
	}
	key, err := toKey(req.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	state, err := st.Load(ctx, key)
	if err != nil {
		return nil, toStatus(err)
	}
	r := &pb.LoadResponse{
		Key:         state.Header.Key[:],
		SecretKey:   state.Header.SecretKey,
		Head:        fromHead(state.Head),
		Evidence:    state.Evidence,
		HasEvidence: state.Evidence != nil,
	}
	for _, p := range state.Present {
		r.Present = append(r.Present, &pb.Range{Start: p.Start, End: p.End})
	}
	return r, nil
}

func (s *storageServer) Write(ctx context.Context, req *pb.WriteRequest) (*pb.Empty, error) {
	st, err := s.impl()
	if err != nil {
		return nil, err
	}
	key, err := toKey(req.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(req.BlockIndexes) != len(req.BlockSizes) {
		return nil, toStatus(fmt.Errorf("%w: %d block indexes for %d blocks", sdk.ErrInvalid, len(req.BlockIndexes), len(req.BlockSizes)))
	}
	data, err := unpackBlocks(req.BlockData, req.BlockSizes)
	if err != nil {
		return nil, toStatus(err)
	}
	b := &sdk.Batch{Truncate: req.Truncate, TruncateTo: req.TruncateTo, Blocks: make([]sdk.Block, len(data))}
	for i, d := range data {
		b.Blocks[i] = sdk.Block{Index: req.BlockIndexes[i], Data: d}
	}
	if b.Nodes, err = unpackNodes(req.Nodes); err != nil {
		return nil, toStatus(err)
	}
	if req.Head != nil {
		h, err := toHead(req.Head)
		if err != nil {
			return nil, toStatus(err)
		}
		b.Head = &h
	}
	if req.HasEvidence {
		b.Evidence = req.Evidence
		if b.Evidence == nil {
			b.Evidence = []byte{}
		}
	}
	return &pb.Empty{}, toStatus(st.Write(ctx, key, b))
}

func (s *storageServer) ReadBlocks(req *pb.ReadBlocksRequest, stream pb.Storage_ReadBlocksServer) error {
	st, err := s.impl()
	if err != nil {
		return err
	}
	key, err := toKey(req.Key)
	if err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	if req.End < req.Start {
		_, err := st.ReadBlocks(ctx, key, req.Start, req.End) // the storage words the error
		return toStatus(err)
	}
	if req.End == req.Start {
		// Still ask the storage, so a missing feed fails as it should.
		_, err := st.ReadBlocks(ctx, key, req.Start, req.End)
		return toStatus(err)
	}
	// Chunks are sized up front: growing them block by block cost a
	// quarter of the plugin's time.
	newChunk := func() *pb.BlocksChunk {
		return &pb.BlocksChunk{Data: make([]byte, 0, chunkBytes), Sizes: make([]uint32, 0, chunkBlocks)}
	}
	chunk := newChunk()
	for s := req.Start; s < req.End; {
		e := min(s+chunkBlocks, req.End)
		blocks, err := st.ReadBlocks(ctx, key, s, e)
		if err != nil {
			return toStatus(err)
		}
		if uint64(len(blocks)) != e-s {
			return toStatus(fmt.Errorf("%w: the storage returned %d blocks for [%d, %d)", sdk.ErrCorrupt, len(blocks), s, e))
		}
		for _, b := range blocks {
			if len(chunk.Sizes) > 0 && len(chunk.Data)+len(b) > chunkBytes {
				if err := stream.Send(chunk); err != nil {
					return err
				}
				chunk = newChunk()
			}
			chunk.Data = append(chunk.Data, b...)
			chunk.Sizes = append(chunk.Sizes, uint32(len(b)))
		}
		s = e
	}
	if len(chunk.Sizes) > 0 {
		return stream.Send(chunk)
	}
	return nil
}

func (s *storageServer) ReadNodes(ctx context.Context, req *pb.ReadNodesRequest) (*pb.ReadNodesResponse, error) {
	st, err := s.impl()
	if err != nil {
		return nil, err
	}
	key, err := toKey(req.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	nodes, err := st.ReadNodes(ctx, key, req.Indexes)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReadNodesResponse{Nodes: packNodes(nodes)}, nil
}

func (s *storageServer) Delete(ctx context.Context, req *pb.KeyRequest) (*pb.Empty, error) {
	st, err := s.impl()
	if err != nil {
		return nil, err
	}
	key, err := toKey(req.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Empty{}, toStatus(st.Delete(ctx, key))
}

func (s *storageServer) Close(context.Context, *pb.Empty) (*pb.Empty, error) {
	st, err := s.impl()
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, toStatus(st.Close())
}
