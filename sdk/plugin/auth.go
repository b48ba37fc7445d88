package plugin

import (
	"context"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// authClient is the host's side: sdk.AuthPolicy over gRPC.
type authClient struct {
	c pb.AuthPolicyClient
}

func (a *authClient) Authorize(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
	r, err := a.c.Authorize(ctx, &pb.AuthorizeRequest{Drive: req.Drive[:], Writer: req.Writer[:], Peer: req.Peer[:], Proof: req.Proof})
	if err != nil {
		return sdk.AuthDecision{}, fromCall(ctx, err)
	}
	return sdk.AuthDecision{Allow: r.Allow, Reason: r.Reason}, nil
}

// authServer is the plugin's side: it serves an sdk.AuthPolicy.
type authServer struct {
	pb.UnimplementedAuthPolicyServer
	srv *server
}

func (a *authServer) Authorize(ctx context.Context, req *pb.AuthorizeRequest) (*pb.AuthorizeResponse, error) {
	impl, err := a.srv.get()
	if err != nil {
		return nil, err
	}
	var r sdk.AuthRequest
	if r.Drive, err = toKey(req.Drive); err != nil {
		return nil, toStatus(err)
	}
	if r.Writer, err = toKey(req.Writer); err != nil {
		return nil, toStatus(err)
	}
	peer, err := toKey(req.Peer)
	if err != nil {
		return nil, toStatus(err)
	}
	r.Peer, r.Proof = sdk.PeerKey(peer), req.Proof
	d, err := impl.(sdk.AuthPolicy).Authorize(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.AuthorizeResponse{Allow: d.Allow, Reason: d.Reason}, nil
}
