using Netmem.Stack.Tcp;

namespace Netmem.Tests.Tcp;

/// <summary>The rtx queue's bookkeeping: ranges split where they are cut, bits and byte totals kept, the push mark on the upper piece.</summary>
public sealed class TcpRtxQueueTests
{
    [Fact]
    public void SplitsKeepTimeAndBits_TotalsFollowFlags_PushStaysOnTheUpperPiece()
    {
        var q = new TcpRtxQueue(4);
        q.Clear(1000);
        q.OnTransmit(1000, 11000, 5, push: true);
        q.OnTransmit(11000, 12000, 6, push: false);
        Assert.Equal(2, q.Count);
        int i = q.SplitAt(4000);
        Assert.Equal(1, i);
        Assert.Equal(3, q.Count);
        Assert.Equal(TcpRtxFlags.None, q[0].Flags);
        Assert.Equal(TcpRtxFlags.Push, q[1].Flags);
        Assert.Equal(5, q[1].XmitUs);
        q.SetFlags(0, TcpRtxFlags.Lost);
        Assert.Equal(3000, q.LostBytes);
        q.SetFlags(0, TcpRtxFlags.Lost); // already set: counted once
        Assert.Equal(3000, q.LostBytes);
        // A retransmission of [2000, 3000) cuts the lost range and marks only its piece.
        q.OnTransmit(2000, 3000, 9, push: false);
        Assert.Equal(5, q.Count);
        Assert.Equal(1000, q.RetransBytes);
        int k = q.IndexOf(2500);
        Assert.Equal(9, q[k].XmitUs);
        Assert.Equal(TcpRtxFlags.Lost | TcpRtxFlags.Retrans | TcpRtxFlags.EverRetrans, q[k].Flags);
        Assert.Equal(3000, q.LostBytes);
        // Growing past the initial capacity keeps everything.
        for (uint s = 12000; s < 20000; s += 1000) q.OnTransmit(s, s + 1000, 10, push: false);
        Assert.Equal(13, q.Count);
        Assert.Equal(20000u, q.TailEnd);
        // A partial ACK trims the head range and the totals with it.
        q.AckTo(2500);
        Assert.Equal(2500u, q[0].Seq);
        Assert.Equal(1000 + 500, q.LostBytes); // [2500, 3000) and [3000, 4000)
        Assert.Equal(500, q.RetransBytes);
        q.AckTo(20000);
        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.LostBytes);
        Assert.Equal(0, q.RetransBytes);
        Assert.Equal(0, q.SackedBytes);
    }

    [Fact]
    public void Rack_FirstDeliveryIsTaken_WhateverTheSequenceHalf_AndNothingAboveItIsLost()
    {
        // Sequence numbers in the upper half of the space at time 0 compare "before" the zero state (0, 0):
        // the first delivery must still become the RACK segment, and nothing sent after it may be marked.
        const uint iss = 0x9000_0000;
        var q = new TcpRtxQueue();
        q.Clear(iss);
        for (uint i = 0; i < 10; i++) q.OnTransmit(iss + i * 1000, iss + (i + 1) * 1000, 0, push: false);
        var rack = new Rack();
        Assert.Equal(0, rack.DetectLoss(q, 0, 0, out _)); // no delivery yet: nothing to judge by
        q.SetFlags(3, TcpRtxFlags.Sacked);
        rack.Advance(TcpRtxFlags.None, q[3].End, q[3].XmitUs, 0, 0);
        Assert.Equal(iss + 4000, rack.EndSeq);
        long lost = rack.DetectLoss(q, 0, 0, out long wait);
        Assert.Equal(3000, lost); // the three below it, sent at the same instant; none above
        Assert.Equal(0, wait);
        for (int i = 4; i < q.Count; i++) Assert.Equal(TcpRtxFlags.None, q[i].Flags);
    }
}
