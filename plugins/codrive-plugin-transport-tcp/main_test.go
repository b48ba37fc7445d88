package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// TestPluginProcess builds this plugin, starts it as a host would, and
// echoes data through a connection it dials to a listener it opened.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "codrive-plugin-transport-tcp")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}

	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: plugin.VersionedPlugins(plugin.KindTransport),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  plugin.DialOptions,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(string(plugin.KindTransport))
	if err != nil {
		t.Fatal(err)
	}
	pc := raw.(*plugin.Client)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	info, err := pc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "tcp" || info.Kind != plugin.KindTransport {
		t.Errorf("plugin says it is %+v", info)
	}
	if err := pc.Init(ctx, plugin.Config{}); err != nil {
		t.Fatal(err)
	}
	tr := pc.Transport(info)
	defer tr.Close()

	l, err := tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan sdk.Conn, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	dialed, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.FailNow()
	}
	go func() {
		io.Copy(server, server)
		server.Close()
	}()

	msg := bytes.Repeat([]byte("out of process "), 1<<16)
	go dialed.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(dialed, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Error("echo differs from what was sent")
	}
	dialed.Close()
}
