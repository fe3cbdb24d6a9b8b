using Netmem.Stack;

namespace Netmem.Tests.Stack;

public sealed class SocketErrorQueueTests
{
    [Fact]
    public void Adjacent_zerocopy_ranges_coalesce_into_the_tail_and_others_queue()
    {
        var q = new SocketErrorQueue();
        int wakeups = 0;
        q.Reported = () => wakeups++;
        q.ReportZerocopy(0, 1, copied: true);
        q.ReportZerocopy(1, 2, copied: false);  // [1, 2] follows [0, 0]: the tail becomes [0, 2], code kept
        q.ReportZerocopy(5, 1, copied: false);  // a gap: a record of its own
        Assert.Equal(3, wakeups);
        Assert.Equal(3, q.Reports);
        Assert.Equal(1, q.Coalesced);
        Assert.True(q.TryDequeue(out var a));
        Assert.Equal(SockExtendedErr.Zerocopy(0, 2, copied: true), a);
        Assert.True(q.TryDequeue(out var b));
        Assert.Equal((5u, 5u, (byte)0, SockExtendedErr.OriginZerocopy), (b.Info, b.Data, b.Code, b.Origin));
        Assert.False(q.TryDequeue(out _));
        Assert.True(q.IsEmpty);
    }

    [Fact]
    public void A_range_does_not_extend_past_two_to_the_32_ids_or_into_another_origin()
    {
        var q = new SocketErrorQueue();
        q.ReportZerocopy(0, uint.MaxValue, copied: false);   // [0, 2^32 - 2]
        q.ReportZerocopy(uint.MaxValue, 1, copied: false);   // would make 2^32 ids: queued apart
        q.Report(new SockExtendedErr(111, SockExtendedErr.OriginLocal, 0, 0, 0, 0, 0));
        q.ReportZerocopy(0, 1, copied: false);                // after a non-zerocopy tail: queued apart
        Assert.Equal(4, q.Count);
        Assert.Equal(0, q.Coalesced);
        Assert.True(q.TryPeek(out var first));
        Assert.Equal(uint.MaxValue - 1, first.Data);
        for (int i = 0; i < 4; i++) Assert.True(q.TryDequeue(out _));
        Assert.False(q.TryPeek(out _));
    }

    [Fact]
    public void The_queue_grows_while_nobody_reads_and_keeps_order()
    {
        var q = new SocketErrorQueue();
        for (uint i = 0; i < 20; i++) q.ReportZerocopy(i * 2, 1, copied: i % 2 == 0); // never adjacent
        for (uint i = 0; i < 20; i++)
        {
            Assert.True(q.TryDequeue(out var e));
            Assert.Equal(SockExtendedErr.Zerocopy(i * 2, i * 2, i % 2 == 0), e);
        }
    }
}
