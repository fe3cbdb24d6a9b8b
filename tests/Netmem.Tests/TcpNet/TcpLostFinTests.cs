using System.Buffers.Binary;
using Netmem.Phy;
using Netmem.Stack;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.TcpNet;

/// <summary>
/// A lone FIN that is lost is retransmitted by the RTO (found over the tap: under kernel-side loss the
/// stack's FIN from LAST_ACK was never sent again, and the peer waited in FIN_WAIT_2 for ever).
/// </summary>
public class TcpLostFinTests
{
    /// <summary>Drops the first frame carrying a TCP FIN, passes everything else.</summary>
    private sealed class DropFirstFin(IWireSink inner) : WireStage(inner)
    {
        public int Dropped;

        public override void Transmit(WireFrame frame)
        {
            Span<byte> h = stackalloc byte[14 + 60 + 14];
            int n = Math.Min(h.Length, frame.Length);
            frame.CopyTo(0, h[..n]);
            if (Dropped == 0 && n >= 14 + 20 + 14 && BinaryPrimitives.ReadUInt16BigEndian(h[12..]) == 0x0800 && h[14 + 9] == 6)
            {
                int tcp = 14 + (h[14] & 15) * 4;
                if (tcp + 14 <= n && (h[tcp + 13] & 0x01) != 0)
                {
                    Dropped++;
                    return;
                }
            }
            Inner.Transmit(frame);
        }
    }

    [Fact]
    public void A_lost_fin_from_last_ack_is_retransmitted_and_the_close_completes()
    {
        DropFirstFin? drop = null;
        using var env = new TcpNetEnv(queues: 1, bToA: w => drop = new DropFirstFin(w));
        var l = env.Listen(env.B);
        var (c, s) = env.Connect(l);
        env.On(c.Context, () => c.ShutdownSend()); // A's FIN goes through (A to B is not filtered)
        env.Poll();
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(TcpState.CloseWait, s.State);
        env.On(s.Context, s.Close);                 // B's FIN is lost
        env.Poll();
        Assert.Equal(1, drop!.Dropped);
        Assert.Equal(TcpState.LastAck, s.State);
        long retrans = env.B.Tcp.Stats.RetransmittedSegments;
        env.Advance(TimeSpan.FromSeconds(3), steps: 30); // past the RTO
        Assert.True(env.B.Tcp.Stats.RetransmittedSegments > retrans, "the FIN was not sent again");
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(TcpState.Closed, s.State);
        env.On(c.Context, c.Close);
    }
}
