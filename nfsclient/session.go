package nfsclient

import (
	"context"
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

// exchangeID registers our client owner (RFC 8881 section 18.35) and returns
// the sequence id CREATE_SESSION must use.
func (c *Client) exchangeID(ctx context.Context) (uint32, error) {
	res, err := c.plainCompound(ctx, &nfsv4.NfsArgop4_OP_EXCHANGE_ID{OpexchangeId: c.exchangeIDArgs()})
	if err != nil {
		return 0, fmt.Errorf("nfsclient: EXCHANGE_ID: %w", err)
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_EXCHANGE_ID](res, 0)
	if err != nil {
		return 0, err
	}
	ok, isOK := r.OpexchangeId.(*nfsv4.ExchangeId4res_NFS4_OK)
	if !isOK {
		return 0, &Error{Op: "EXCHANGE_ID", Status: r.OpexchangeId.GetEirStatus()}
	}
	c.clientID = ok.EirResok4.EirClientid
	return ok.EirResok4.EirSequenceid, nil
}

// exchangeIDArgs builds our EXCHANGE_ID arguments: SP4_NONE state protection
// (EFS offers no other), no pNFS.
func (c *Client) exchangeIDArgs() nfsv4.ExchangeId4args {
	return nfsv4.ExchangeId4args{
		EiaClientowner: nfsv4.ClientOwner4{
			CoVerifier: bootVerifier,
			CoOwnerid:  []byte(c.cfg.OwnerID),
		},
		EiaFlags:        nfsv4.EXCHGID4_FLAG_USE_NON_PNFS,
		EiaStateProtect: &nfsv4.StateProtect4A_SP4_NONE{},
		EiaClientImplId: []nfsv4.NfsImplId4{{NiiDomain: "efs-fuse.dev", NiiName: "efs-fuse"}},
	}
}

// createSession asks for a fore channel that fits 1 MiB READs and WRITEs
// and MaxRequests slots, then uses whatever the server grants (RFC 8881
// section 18.36.3: the server may lower every value).
func (c *Client) createSession(ctx context.Context, seq uint32) error {
	want := c.cfg.MaxIO + ioHeaderRoom
	args := nfsv4.CreateSession4args{
		CsaClientid: c.clientID,
		CsaSequence: seq,
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
			CaMaxrequestsize:        4096,
			CaMaxresponsesize:       4096,
			CaMaxresponsesizeCached: 0,
			CaMaxoperations:         2,
			CaMaxrequests:           1,
		},
		CsaCbProgram: 0x40000000,
		CsaSecParms:  []nfsv4.CallbackSecParms4{&nfsv4.CallbackSecParms4_AUTH_NONE{}},
	}
	res, err := c.plainCompound(ctx, &nfsv4.NfsArgop4_OP_CREATE_SESSION{OpcreateSession: args})
	if err != nil {
		return fmt.Errorf("nfsclient: CREATE_SESSION: %w", err)
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_CREATE_SESSION](res, 0)
	if err != nil {
		return err
	}
	ok, isOK := r.OpcreateSession.(*nfsv4.CreateSession4res_NFS4_OK)
	if !isOK {
		return &Error{Op: "CREATE_SESSION", Status: r.OpcreateSession.GetCsrStatus()}
	}
	fore := ok.CsrResok4.CsrForeChanAttrs
	c.sessionID = ok.CsrResok4.CsrSessionid
	c.slots = newSlotTable(int(min(fore.CaMaxrequests, 1024)))
	c.maxRead = ioSize(c.cfg.MaxIO, fore.CaMaxresponsesize)
	c.maxWrite = ioSize(c.cfg.MaxIO, fore.CaMaxrequestsize)
	if c.maxRead < 4096 || c.maxWrite < 4096 {
		return fmt.Errorf("nfsclient: server granted a session too small for I/O (max request %d, max response %d bytes)",
			fore.CaMaxrequestsize, fore.CaMaxresponsesize)
	}
	return nil
}

// ioSize is the largest power-of-two-aligned payload that fits in a message
// of limit bytes, at most want.
func ioSize(want, limit uint32) uint32 {
	if limit <= ioHeaderRoom {
		return 0
	}
	n := min(want, limit-ioHeaderRoom)
	return n &^ 4095
}

// reclaimComplete tells the server we have no state to reclaim (RFC 8881
// section 18.51); until then it refuses OPEN with NFS4ERR_GRACE. It also
// reads the lease time.
func (c *Client) reclaimComplete(ctx context.Context) error {
	_, err := c.compound(ctx, rpc.Root, &nfsv4.NfsArgop4_OP_RECLAIM_COMPLETE{
		OpreclaimComplete: nfsv4.ReclaimComplete4args{RcaOneFs: false},
	})
	if e, ok := err.(*Error); ok && e.Status == nfsv4.NFS4ERR_COMPLETE_ALREADY {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("nfsclient: RECLAIM_COMPLETE: %w", err)
	}
	fa, err := c.FSAttr(ctx, rpc.Root, nil)
	if err != nil {
		return fmt.Errorf("nfsclient: read lease time: %w", err)
	}
	c.lease = time.Duration(fa.LeaseTime) * time.Second
	if c.lease <= 0 {
		c.lease = 90 * time.Second
	}
	return nil
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
		ctx, cancel := context.WithTimeout(context.Background(), every)
		_, err := c.compound(ctx, rpc.Root)
		cancel()
		if err != nil {
			c.log.Warn("lease renewal failed", zap.Error(err))
		}
	}
}

// destroy ends the session and the client id (RFC 8881 sections 18.37 and
// 18.50). The server would expire them after a lease anyway; destroying
// them at once frees its resources and tells it no reclaim will follow.
func (c *Client) destroy(ctx context.Context) error {
	if _, err := c.plainCompound(ctx, &nfsv4.NfsArgop4_OP_DESTROY_SESSION{
		OpdestroySession: nfsv4.DestroySession4args{DsaSessionid: c.sessionID},
	}); err != nil {
		return fmt.Errorf("nfsclient: DESTROY_SESSION: %w", err)
	}
	if _, err := c.plainCompound(ctx, &nfsv4.NfsArgop4_OP_DESTROY_CLIENTID{
		OpdestroyClientid: nfsv4.DestroyClientid4args{DcaClientid: c.clientID},
	}); err != nil {
		return fmt.Errorf("nfsclient: DESTROY_CLIENTID: %w", err)
	}
	return nil
}
