using Netmem.Sockets;
using Netmem.Tests.Tcp;

namespace Netmem.Tests.DevmemRx;

/// <summary>Bulk devmem receive over the provider-bound queue: every byte checked in device memory, steady state allocation-free.</summary>
public class DevmemTransferTests(ITestOutputHelper output)
{
    /// <summary>
    /// Sends <paramref name="data"/> from <paramref name="c"/> while <paramref name="s"/> receives it with
    /// devmem receive, checking every record (dmabuf ones by reading device memory, linear ones in the
    /// buffer) and releasing each call's tokens with one DONTNEED, whose count must match. All on the test
    /// thread with no Task in sight, so <see cref="GC.GetAllocatedBytesForCurrentThread"/> sees the whole
    /// data path; the bytes allocated between the first and last quarter are returned.
    /// </summary>
    internal static long Transfer(DevmemTestEnv env, TcpSocket c, TcpSocket s, byte[] data, out long records, bool timers = true)
    {
        var linear = new byte[64 * 1024];
        var recs = new DevmemCmsg[64];
        var check = new byte[64 * 1024];
        Span<DmabufToken> release = stackalloc DmabufToken[64];
        long sent = 0, got = 0, allocated = 0, allocStart = 0;
        records = 0;
        bool measuring = false, measured = false;
        const int Chunk = 256 * 1024;
        var send = c.SendAsync(data.AsMemory(0, Math.Min(Chunk, data.Length)));
        var recv = s.ReceiveDevmemAsync(linear, recs, maxBytes: 1 << 20);
        while (got < data.Length)
        {
            bool moved = env.Net.Poll() > 0;
            if (sent < data.Length && send.IsCompleted)
            {
                sent += send.Result;
                if (sent < data.Length) send = c.SendAsync(data.AsMemory((int)sent, (int)Math.Min(Chunk, data.Length - sent)));
                moved = true;
            }
            if (!recv.IsCompleted)
            {
                if (!moved && timers) env.Net.Advance(TimeSpan.FromMilliseconds(1)); // delayed ACKs, if anything waits on a timer
                continue;
            }
            var r = recv.Result;
            if (r.Bytes <= 0) Assert.Fail($"end of stream at {got}"); // (Assert.True's message would allocate on every call)
            int lin = 0, n = 0, k = 0;
            for (int i = 0; i < r.Records; i++)
            {
                ref readonly var rec = ref recs[i];
                int size = (int)rec.Data.FragSize;
                var want = data.AsSpan((int)(got + n), size);
                if (rec.IsDmabuf)
                {
                    if (rec.Data.DmabufId != env.DmabufId) Assert.Fail($"dmabuf id {rec.Data.DmabufId}");
                    env.ReadDevice((long)rec.Data.FragOffset, check.AsSpan(0, size)); // the GPU-side check
                    if (!want.SequenceEqual(check.AsSpan(0, size))) Assert.Fail($"device memory differs at stream offset {got + n}");
                    release[k++] = new DmabufToken(rec.Data.FragToken, 1);
                }
                else
                {
                    if (!want.SequenceEqual(linear.AsSpan(lin, size))) Assert.Fail($"linear bytes differ at stream offset {got + n}");
                    lin += size;
                }
                n += size;
            }
            if (r.Records == 0)
            {
                if (!data.AsSpan((int)got, r.Bytes).SequenceEqual(linear.AsSpan(0, r.Bytes))) Assert.Fail($"readable bytes differ at {got}");
                n = r.Bytes;
            }
            if (n != r.Bytes) Assert.Fail($"records cover {n} of {r.Bytes} bytes");
            if (k > 0 && s.DevmemDontNeed(release[..k]) != k) Assert.Fail("DONTNEED freed fewer frags than it was given tokens");
            records += r.Records;
            got += r.Bytes;
            if (!measuring && got >= data.Length / 4) { measuring = true; allocStart = GC.GetAllocatedBytesForCurrentThread(); }
            else if (measuring && !measured && got >= data.Length * 3L / 4) { measured = true; allocated = GC.GetAllocatedBytesForCurrentThread() - allocStart; }
            if (got < data.Length) recv = s.ReceiveDevmemAsync(linear, recs, maxBytes: 1 << 20);
        }
        if (sent < data.Length) Assert.Equal(data.Length - sent, env.Run(send));
        Assert.Equal(0, s.DevmemTokensOutstanding);
        return allocated;
    }

    [Fact]
    public void A_64_MiB_devmem_transfer_is_validated_byte_for_byte_in_device_memory()
    {
        using var env = new DevmemTestEnv(niovs: 4096);
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        var data = DevmemReceiveTests.Pattern(64 << 20, 11);
        Transfer(env, c, s, data, out long records);
        output.WriteLine($"64 MiB in {records} records; pool {env.Pool.GetStats()}");
        Assert.True(records >= (64 << 20) / 4096, $"{records} records");
        Assert.True(env.Net.B.Tcp.Stats.DevmemFragCount >= (64 << 20) / 4096);
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Steady_state_devmem_receive_and_dontneed_allocate_nothing()
    {
        // A clock that stands still (no timer allocations) as in the other allocation tests.
        using var env = new DevmemTestEnv(niovs: 4096, clock: new StillClock());
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        var data = DevmemReceiveTests.Pattern(48 << 20, 12);
        long allocated = Transfer(env, c, s, data, out long records, timers: false); // a still clock fires nothing
        output.WriteLine($"48 MiB in {records} records, {allocated} bytes allocated in the middle half");
        Assert.Equal(0, allocated);
        c.Dispose();
        s.Dispose();
    }
}
