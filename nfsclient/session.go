package nfsclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap"
)

// Room for RPC and COMPOUND headers around a READ or WRITE payload when
// sizing the session's max request and response (RFC 8881 section
// 18.36.3: ca_maxrequestsize counts the whole RPC request).
const ioHeaderRoom = 8 << 10

// exchangeResult is what EXCHANGE_ID tells us (RFC 8881 section 18.35.4).
type exchangeResult struct {
	clientID uint64
	seq      uint32 // the sequence id CREATE_SESSION must use
	flags    uint32 // EXCHGID4_FLAG_CONFIRMED_R says the server still knows us
	server   serverIdentity
}

// serverIdentity is the server instance behind a client id: its
// server_owner major id and its scope. Two replies that differ in either
// come from different servers as far as state goes (RFC 8881 section
// 2.10.5.1), whatever client id they hand out.
type serverIdentity struct {
	major string
	scope string
}

// exchangeID registers our client owner (RFC 8881 section 18.35).
func (c *Client) exchangeID(ctx context.Context, conn *rpc.Conn) (exchangeResult, error) {
	res, err := c.plainCompound(ctx, conn, &nfsv4.NfsArgop4_OP_EXCHANGE_ID{OpexchangeId: nfsv4.ExchangeId4args{
		EiaClientowner: nfsv4.ClientOwner4{
			CoVerifier: bootVerifier,
			CoOwnerid:  []byte(c.cfg.OwnerID),
		},
		// SP4_NONE: EFS offers no other state protection; no pNFS.
		EiaFlags:        nfsv4.EXCHGID4_FLAG_USE_NON_PNFS,
		EiaStateProtect: &nfsv4.StateProtect4A_SP4_NONE{},
		EiaClientImplId: []nfsv4.NfsImplId4{{NiiDomain: "efs-fuse.dev", NiiName: "efs-fuse"}},
	}})
	if err != nil {
		return exchangeResult{}, fmt.Errorf("nfsclient: EXCHANGE_ID: %w", err)
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_EXCHANGE_ID](res, 0)
	if err != nil {
		return exchangeResult{}, err
	}
	ok, isOK := r.OpexchangeId.(*nfsv4.ExchangeId4res_NFS4_OK)
	if !isOK {
		return exchangeResult{}, &Error{Op: "EXCHANGE_ID", Status: r.OpexchangeId.GetEirStatus()}
	}
	x := ok.EirResok4
	return exchangeResult{
		clientID: x.EirClientid,
		seq:      x.EirSequenceid,
		flags:    x.EirFlags,
		server:   serverIdentity{major: string(x.EirServerOwner.SoMajorId), scope: string(x.EirServerScope)},
	}, nil
}

// createSession asks for a fore channel that fits 1 MiB READs and WRITEs
// and MaxRequests slots, then uses whatever the server grants (RFC 8881
// section 18.36.3: the server may lower every value).
func (c *Client) createSession(ctx context.Context, conn *rpc.Conn, x exchangeResult) (*session, nfsv4.ChannelAttrs4, error) {
	want := c.cfg.MaxIO + ioHeaderRoom
	args := nfsv4.CreateSession4args{
		CsaClientid: x.clientID,
		CsaSequence: x.seq,
		CsaForeChanAttrs: nfsv4.ChannelAttrs4{
			CaMaxrequestsize:        want,
			CaMaxresponsesize:       want,
			CaMaxresponsesizeCached: 64 << 10,
			CaMaxoperations:         16,
			CaMaxrequests:           c.cfg.MaxRequests,
		},
		// No back channel is bound (we never set CONN_BACK_CHAN), but the
		// attributes are mandatory in the arguments.
		CsaBackChanAttrs: nfsv4.ChannelAttrs4{
			CaMaxrequestsize:  4096,
			CaMaxresponsesize: 4096,
			CaMaxoperations:   2,
			CaMaxrequests:     1,
		},
		CsaCbProgram: 0x40000000,
		CsaSecParms:  []nfsv4.CallbackSecParms4{&nfsv4.CallbackSecParms4_AUTH_NONE{}},
	}
	res, err := c.plainCompound(ctx, conn, &nfsv4.NfsArgop4_OP_CREATE_SESSION{OpcreateSession: args})
	if err != nil {
		return nil, nfsv4.ChannelAttrs4{}, fmt.Errorf("nfsclient: CREATE_SESSION: %w", err)
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_CREATE_SESSION](res, 0)
	if err != nil {
		return nil, nfsv4.ChannelAttrs4{}, err
	}
	ok, isOK := r.OpcreateSession.(*nfsv4.CreateSession4res_NFS4_OK)
	if !isOK {
		return nil, nfsv4.ChannelAttrs4{}, &Error{Op: "CREATE_SESSION", Status: r.OpcreateSession.GetCsrStatus()}
	}
	fore := ok.CsrResok4.CsrForeChanAttrs
	return &session{
		clientID: x.clientID,
		id:       ok.CsrResok4.CsrSessionid,
		slots:    newSlotTable(int(min(fore.CaMaxrequests, 1024))),
		server:   x.server,
	}, fore, nil
}

// ioSize is the largest 4 KiB-aligned payload that fits in a message of
// limit bytes, at most want.
func ioSize(want, limit uint32) uint32 {
	if limit <= ioHeaderRoom {
		return 0
	}
	n := min(want, limit-ioHeaderRoom)
	return n &^ 4095
}

// reclaimComplete tells the server we have reclaimed all we will (RFC 8881
// section 18.51); until then it refuses our non-reclaim OPENs with
// NFS4ERR_GRACE.
func (c *Client) reclaimComplete(ctx context.Context, conn *rpc.Conn, s *session) error {
	_, err := c.compoundOn(ctx, conn, s, rpc.Root, &nfsv4.NfsArgop4_OP_RECLAIM_COMPLETE{
		OpreclaimComplete: nfsv4.ReclaimComplete4args{RcaOneFs: false},
	})
	if e, ok := err.(*Error); ok && e.Status == nfsv4.NFS4ERR_COMPLETE_ALREADY {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("nfsclient: RECLAIM_COMPLETE: %w", err)
	}
	return nil
}

// leaseTime reads the server's lease time through conn and s at bring-up.
func (c *Client) leaseTime(ctx context.Context, conn *rpc.Conn, s *session) (time.Duration, error) {
	res, err := c.compoundOn(ctx, conn, s, rpc.Root, putFH(nil), getattr(FSAttrRequest))
	if err != nil {
		return 0, err
	}
	f, err := fattrAt(res, 1)
	if err != nil {
		return 0, err
	}
	fa, err := DecodeFSAttr(f)
	if err != nil {
		return 0, err
	}
	if fa.LeaseTime == 0 {
		return 90 * time.Second, nil
	}
	return time.Duration(fa.LeaseTime) * time.Second, nil
}

// renewLease keeps the client's lease alive while no other request is being
// sent (RFC 8881 section 8.3: any SEQUENCE renews it). It runs until Close.
func (c *Client) renewLease() {
	defer c.wg.Done()
	every := c.lease / 3
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, c.lastSent.Load())) < every {
			continue
		}
		ctx, cancel := context.WithTimeout(c.base, every)
		_, err := c.compound(ctx, rpc.Root)
		cancel()
		if err != nil && c.base.Err() == nil {
			c.log.Warn("lease renewal failed", zap.Error(err))
		}
	}
}

// destroy ends the session and the client id (RFC 8881 sections 18.37 and
// 18.50). The server would expire them after a lease anyway; destroying
// them at once frees its resources and tells it no reclaim will follow.
func (c *Client) destroy(ctx context.Context, conn *rpc.Conn) error {
	s := c.sess.Load()
	// Behind SEQUENCE, DESTROY_SESSION works on any connection (RFC 8881
	// section 18.37.3); alone it needs one explicitly bound to the session,
	// which a connection made by reconnect may not count as for every
	// server.
	_, err := c.compoundOn(ctx, conn, s, rpc.Root, &nfsv4.NfsArgop4_OP_DESTROY_SESSION{
		OpdestroySession: nfsv4.DestroySession4args{DsaSessionid: s.id},
	})
	var nerr *Error
	if errors.As(err, &nerr) && nerr.Status == nfsv4.NFS4ERR_CONN_NOT_BOUND_TO_SESSION {
		// ganesha keeps a bounded list of a session's connections and
		// stops adding to it after many reconnects, then refuses
		// DESTROY_SESSION. Nothing is lost: the server expires the
		// session and client id after one lease.
		c.log.Info("server refused DESTROY_SESSION on this connection; it will expire the session after its lease", zap.Error(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("nfsclient: DESTROY_SESSION: %w", err)
	}
	if _, err := c.plainCompound(ctx, conn, &nfsv4.NfsArgop4_OP_DESTROY_CLIENTID{
		OpdestroyClientid: nfsv4.DestroyClientid4args{DcaClientid: s.clientID},
	}); err != nil {
		return fmt.Errorf("nfsclient: DESTROY_CLIENTID: %w", err)
	}
	return nil
}
