using Netmem.Stack.Tcp;

namespace Netmem.Tests.Tcp.Components;

/// <summary>RFC 6298's formulas worked by hand: SRTT/RTTVAR with alpha 1/8, beta 1/4, RTO = SRTT + max(G, 4·RTTVAR).</summary>
public sealed class RttEstimatorTests
{
    [Fact]
    public void Before_any_sample_the_RTO_is_one_second()
    {
        var rtt = new RttEstimator();
        Assert.False(rtt.HasSample);
        Assert.Equal(1_000_000, rtt.RtoUs);
        Assert.Equal(0, rtt.SrttUs);
        Assert.Equal(0, rtt.MinRttUs);
    }

    [Fact]
    public void First_sample_sets_srtt_to_R_and_rttvar_to_R_over_2()
    {
        var rtt = new RttEstimator();
        rtt.AddSample(100_000);
        Assert.True(rtt.HasSample);
        Assert.Equal(100_000, rtt.SrttUs);
        Assert.Equal(50_000, rtt.RttVarUs);
        Assert.Equal(100_000 + 4 * 50_000, rtt.RtoUs);
    }

    [Fact]
    public void Later_samples_update_rttvar_from_the_old_srtt_then_srtt()
    {
        var rtt = new RttEstimator();
        rtt.AddSample(100_000);

        // RTTVAR = 3/4·50000 + 1/4·|100000 − 200000| = 62500; SRTT = 7/8·100000 + 1/8·200000 = 112500.
        rtt.AddSample(200_000);
        Assert.Equal(62_500, rtt.RttVarUs);
        Assert.Equal(112_500, rtt.SrttUs);
        Assert.Equal(112_500 + 250_000, rtt.RtoUs);

        // RTTVAR = 3/4·62500 + 1/4·|112500 − 50000| = 62500; SRTT = 7/8·112500 + 1/8·50000 = 104687.5.
        rtt.AddSample(50_000);
        Assert.Equal(62_500, rtt.RttVarUs);
        Assert.Equal(104_688, rtt.SrttUs); // rounded to the microsecond
        Assert.Equal(104_688 + 250_000, rtt.RtoUs);
        Assert.Equal(50_000, rtt.MinRttUs);
        Assert.Equal(50_000, rtt.LatestRttUs);

        rtt.AddSample(70_000);
        Assert.Equal(50_000, rtt.MinRttUs);
        Assert.Equal(70_000, rtt.LatestRttUs);
    }

    [Fact]
    public void Rto_is_clamped_to_linux_200ms_and_120s()
    {
        var fast = new RttEstimator();
        fast.AddSample(10); // SRTT 10 + 4·5 = 30 µs
        Assert.Equal(200_000, fast.RtoUs);

        var slow = new RttEstimator();
        slow.AddSample(100_000_000); // 100 s + 200 s
        Assert.Equal(120_000_000, slow.RtoUs);
    }

    [Fact]
    public void Clock_granularity_is_the_floor_of_the_variance_term()
    {
        var rtt = new RttEstimator(minRtoUs: 1, clockGranularityUs: 500_000);
        rtt.AddSample(100_000); // 100000 + max(500000, 200000)
        Assert.Equal(600_000, rtt.RtoUs);
    }

    [Fact]
    public void Timeouts_double_the_RTO_up_to_the_maximum_and_a_sample_resets_the_backoff()
    {
        var rtt = new RttEstimator();
        rtt.AddSample(100_000); // RTO 300 ms
        long expected = 300_000;
        for (int i = 1; i <= 8; i++)
        {
            rtt.OnTimeout();
            expected *= 2;
            Assert.Equal(i, rtt.Backoff);
            Assert.Equal(expected, rtt.RtoUs);
        }
        Assert.Equal(76_800_000, rtt.RtoUs);
        rtt.OnTimeout();
        Assert.Equal(120_000_000, rtt.RtoUs); // 153.6 s capped
        int backoff = rtt.Backoff;
        for (int i = 0; i < 100; i++) rtt.OnTimeout();
        Assert.Equal(120_000_000, rtt.RtoUs);
        Assert.Equal(backoff, rtt.Backoff); // stops counting at the cap: no shift overflow

        rtt.AddSample(100_000);
        Assert.Equal(0, rtt.Backoff);
        Assert.InRange(rtt.RtoUs, 200_000, 400_000);

        rtt.OnTimeout();
        Assert.Equal(1, rtt.Backoff);
        rtt.ResetBackoff();
        Assert.Equal(0, rtt.Backoff);
        Assert.Equal(rtt.BaseRtoUs, rtt.RtoUs);
    }

    [Fact]
    public void Initial_RTO_backs_off_without_samples()
    {
        var rtt = new RttEstimator();
        rtt.OnTimeout();
        rtt.OnTimeout();
        Assert.Equal(4_000_000, rtt.RtoUs);
    }

    [Fact]
    public void Negative_samples_are_refused_and_zero_counts_as_one_microsecond()
    {
        var rtt = new RttEstimator();
        rtt.AddSample(-5);
        Assert.False(rtt.HasSample);
        Assert.Equal(1, rtt.RejectedSamples);
        rtt.AddSample(0);
        Assert.Equal(1, rtt.SrttUs);
        Assert.Equal(1, rtt.MinRttUs);
    }

    [Fact]
    public void Constructor_refuses_bad_clamps()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new RttEstimator(minRtoUs: 300, maxRtoUs: 200));
        Assert.Equal("maxRtoUs", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RttEstimator(minRtoUs: 0));
    }

    [Fact]
    public void Samples_and_timeouts_allocate_nothing()
    {
        var rtt = new RttEstimator();
        rtt.AddSample(1000);
        static void Run(RttEstimator rtt)
        {
            for (int i = 0; i < 100_000; i++)
            {
                rtt.AddSample(1000 + (i & 1023));
                if ((i & 7) == 0) rtt.OnTimeout();
            }
        }
        Run(rtt); // warm-up: a cold 100k-iteration loop is tiered up (OSR) while it runs, which can allocate
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(rtt);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(rtt.RtoUs > 0);
    }

    [Fact]
    public void Linux_form_bounds_the_variance_term_not_the_whole_rto()
    {
        var rfc = new RttEstimator();
        var linux = new RttEstimator(minOnVariance: true);
        rfc.AddSample(1000);
        linux.AddSample(1000);
        Assert.Equal(200_000, rfc.RtoUs);            // clamp(SRTT + 4 RTTVAR, 200 ms)
        Assert.Equal(1000 + 200_000, linux.RtoUs);   // SRTT + max(4 RTTVAR, 200 ms)
    }
}
