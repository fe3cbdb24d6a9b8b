using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Skb;

namespace Netmem.Tests.Devices;

public class VirtualNicAllocationTests
{
    /// <summary>Frees each skb at once and checks its bytes against the pattern: what a minimal stack does.</summary>
    private sealed class CheckingHandler(byte[] expect) : INetdevRxHandler
    {
        public long Count, Bad;
        private readonly byte[] _buf = new byte[4096];
        public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
        {
            skb.CopyBits(0, _buf.AsSpan(0, skb.Len));
            if (!_buf.AsSpan(0, skb.Len).SequenceEqual(expect.AsSpan(14))) Bad++;
            Count++;
            skb.Free();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Steady_state_send_and_receive_allocate_nothing(bool split)
    {
        var o = new VirtualNicOptions { Queues = 1, TcpDataSplit = split ? TcpDataSplit.On : TcpDataSplit.Off };
        using var env = new NicTestEnv(o, o);
        var frame = TestFrames.Tcp(env.B.Address, env.A.Address, TestFrames.IpA, TestFrames.IpB, 1, 2, 3, 0x10, TestFrames.Payload(1400, 5));
        var h = new CheckingHandler(frame);
        env.B.RxHandler = h;
        Assert.Equal(0, env.AllocatedOverSteadyRounds(frame));
        Assert.Equal(700 * 32, h.Count);
        Assert.Equal(0, h.Bad);
    }
}
