package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/lxzan/gws"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// dialURL is the room URL with name, client, resume and patches added to
// its query.
func (c *Client) dialURL() *url.URL {
	u := *c.base
	q := u.Query()
	if c.cfg.Name != "" {
		q.Set(wire.QueryName, c.cfg.Name)
	}
	c.mu.Lock()
	if c.clientID != "" {
		q.Set(wire.QueryClient, c.clientID)
	}
	if c.resume != "" {
		q.Set(wire.QueryResume, c.resume)
	}
	c.mu.Unlock()
	if !c.cfg.FullFrames && !q.Has(wire.QueryPatches) {
		q.Set(wire.QueryPatches, "1") // applied by the read loop (patch.go)
	}
	u.RawQuery = q.Encode()
	return &u
}

// dialNet opens the TCP (and TLS) connection.
func (c *Client) dialNet(ctx context.Context, u *url.URL) (net.Conn, error) {
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "wss" {
		cfg := c.cfg.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, "tcp", host)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", host)
}

// dial makes one connection attempt and waits for the server's hello.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()

	u := c.dialURL()
	nc, err := c.dialNet(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Host, err)
	}
	hdr := c.cfg.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Sec-WebSocket-Protocol", Subprotocol)
	if c.cfg.Token != "" {
		hdr.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	c.mu.Lock()
	c.connSeq++
	id := c.connSeq
	c.mu.Unlock()
	cn := newConn(c, id)

	abort := context.AfterFunc(ctx, func() { _ = nc.Close() })
	ws, resp, err := gws.NewClientFromConn(cn, &gws.ClientOption{
		Addr:                u.String(),
		RequestHeader:       hdr,
		HandshakeTimeout:    c.cfg.HandshakeTimeout,
		ReadMaxPayloadSize:  c.cfg.MaxMessageBytes,
		WriteMaxPayloadSize: c.cfg.MaxMessageBytes,
	}, nc)
	aborted := !abort()
	if err == nil && aborted {
		_ = nc.Close()
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("handshake with %s: %w", u.Host, ctx.Err())
		}
		he := &HandshakeError{Err: err}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			he.StatusCode = resp.StatusCode
		}
		return nil, he
	}
	cn.start(ws)

	select {
	case <-cn.helloCh:
		c.connects.Add(1)
		return cn, nil
	case <-cn.closed:
		return nil, fmt.Errorf("%w: connection ended first: %w", ErrNoHello, cn.cause())
	case <-ctx.Done():
		_ = nc.Close()
		<-cn.closed
		return nil, fmt.Errorf("%w: %w", ErrNoHello, ctx.Err())
	}
}
