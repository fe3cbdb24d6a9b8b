using System.Buffers.Binary;
using Netmem.Stack.Tcp;

namespace Netmem.Native;

/// <summary>Fills Linux's <c>struct tcp_info</c> (x86-64 layout) with the fields the engine tracks; the rest read 0.</summary>
internal static class TcpInfoWriter
{
    /// <summary>Linux tcp_states.h numbering (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11).</summary>
    public static byte LinuxState(TcpState s) => s switch
    {
        TcpState.Established => 1,
        TcpState.SynSent => 2,
        TcpState.SynReceived => 3,
        TcpState.FinWait1 => 4,
        TcpState.FinWait2 => 5,
        TcpState.TimeWait => 6,
        TcpState.Closed => 7,
        TcpState.CloseWait => 8,
        TcpState.LastAck => 9,
        TcpState.Listen => 10,
        TcpState.Closing => 11,
        _ => 0,
    };

    public static int Write(SocketFile s, long nowUs, Span<byte> to)
    {
        Span<byte> b = stackalloc byte[LinuxAbi.TcpInfoSize];
        b.Clear();
        if (s.Connection is { } c)
        {
            var i = c.GetInfo();
            int mss = Math.Max(1, i.SndMss);
            b[0] = LinuxState(i.State);
            b[1] = i.CaState;
            b[2] = (byte)Math.Min(255, i.Retransmits);
            b[4] = (byte)Math.Min(255, i.Backoff);
            b[5] = (byte)(((i.Options & TcpInfoOptions.Timestamps) != 0 ? 1 : 0) | ((i.Options & TcpInfoOptions.Sack) != 0 ? 2 : 0)
                | ((i.Options & TcpInfoOptions.WindowScale) != 0 ? 4 : 0) | ((i.Options & TcpInfoOptions.SynData) != 0 ? 32 : 0));
            b[6] = (byte)((i.SndWscale & 0xf) | (i.RcvWscale << 4));
            U32(b, 8, i.RtoUs);
            U32(b, 16, i.SndMss);
            U32(b, 20, i.RcvMss);
            U32(b, 24, (c.SndNxt - c.SndUna + (uint)mss - 1) / (uint)mss); // unacked segments
            U32(b, 28, i.Sacked / mss);
            U32(b, 32, i.Lost / mss);
            U32(b, 36, (i.RetransOut + mss - 1) / mss);
            U32(b, 44, i.SinceDataSentUs / 1000);
            U32(b, 52, i.SinceDataRecvUs / 1000);
            U32(b, 56, i.SinceAckRecvUs / 1000);
            U32(b, 60, c.Mss + 40); // pmtu as seen through the MSS
            U32(b, 68, i.RttUs);
            U32(b, 72, i.RttVarUs);
            U32(b, 76, i.SndSsthresh >= int.MaxValue ? int.MaxValue : i.SndSsthresh / mss);
            U32(b, 80, i.SndCwnd / mss);
            U32(b, 84, i.RcvMss);
            U32(b, 88, i.Reordering);
            U32(b, 96, i.RcvSpace);
            U32(b, 100, i.TotalRetrans);
            U64(b, 120, i.BytesAcked);
            U64(b, 128, i.BytesReceived);
            U32(b, 136, i.SegsOut);
            U32(b, 140, i.SegsIn);
            U32(b, 148, i.MinRttUs);
            U32(b, 144, Math.Max(0, c.SendQueued - (int)(c.SndNxt - c.SndUna)));
            U32(b, 152, i.DataSegsIn);
            U32(b, 156, i.DataSegsOut);
            U64(b, 168, i.BusyUs);
            U64(b, 176, i.RwndLimitedUs);
            U64(b, 184, i.SndbufLimitedUs);
            U32(b, 192, i.Delivered);
            U32(b, 220, i.ReordSeen);
            U32(b, 228, i.SndWnd);
            U32(b, 232, i.RcvWnd);
        }
        else if (s.Listener is not null) b[0] = LinuxState(TcpState.Listen);
        else b[0] = LinuxState(TcpState.Closed);
        int n = Math.Min(to.Length, b.Length);
        b[..n].CopyTo(to);
        return n;
    }

    private static void U32(Span<byte> b, int off, long v) => BinaryPrimitives.WriteUInt32LittleEndian(b[off..], (uint)Math.Clamp(v, 0, uint.MaxValue));
    private static void U64(Span<byte> b, int off, long v) => BinaryPrimitives.WriteUInt64LittleEndian(b[off..], (ulong)Math.Max(0, v));
}
