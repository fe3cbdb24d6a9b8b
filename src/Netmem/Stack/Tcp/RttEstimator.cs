namespace Netmem.Stack.Tcp;

/// <summary>
/// The retransmission timer's estimator (RFC 6298; the kernel's <c>tcp_rtt_estimator</c> and
/// <c>__tcp_set_rto</c>/<c>tcp_bound_rto</c>): SRTT and RTTVAR with alpha 1/8 and beta 1/4,
/// RTO = SRTT + max(G, 4·RTTVAR) clamped to Linux's [200 ms, 120 s], exponential backoff on timeouts.
/// All times in microseconds.
/// </summary>
/// <remarks>
/// SRTT and RTTVAR are kept in fixed point (1/1024 µs) so repeated 1/8 and 1/4 steps do not lose
/// precision to integer division; the properties round them to whole microseconds.
/// </remarks>
public sealed class RttEstimator
{
    /// <summary>Linux's TCP_RTO_MIN (200 ms).</summary>
    public const long DefaultMinRtoUs = 200_000;
    private readonly bool _minOnVariance;
    /// <summary>Linux's TCP_RTO_MAX (120 s).</summary>
    public const long DefaultMaxRtoUs = 120_000_000;
    /// <summary>RFC 6298 2.1 / Linux's TCP_TIMEOUT_INIT (1 s).</summary>
    public const long DefaultInitialRtoUs = 1_000_000;
    /// <summary>K in RTO = SRTT + max(G, K·RTTVAR).</summary>
    public const int K = 4;

    private const int FixShift = 10;

    private readonly long _minRtoUs, _maxRtoUs, _initialRtoUs, _granularityUs;
    private long _srttFix, _rttvarFix; // scaled by 2^FixShift
    private long _baseRtoUs;           // RTO before backoff

    /// <summary>An estimator with no sample yet: RTO = <paramref name="initialRtoUs"/>.</summary>
    /// <param name="minRtoUs">Lower clamp on the RTO (RFC 6298 2.4 says 1 s; Linux uses 200 ms).</param>
    /// <param name="maxRtoUs">Upper clamp on the RTO, with backoff (RFC 6298 2.5).</param>
    /// <param name="initialRtoUs">RTO before the first sample (RFC 6298 2.1).</param>
    /// <param name="clockGranularityUs">G: the clock's granularity (1 µs for the context's clock).</param>
    /// <param name="minOnVariance">
    /// Linux's form (tcp_rtt_estimator / __tcp_set_rto): the minimum bounds the variance term, RTO =
    /// SRTT + max(4 * RTTVAR, min RTO), instead of the whole RTO (RFC 6298 2.4). Off by default.
    /// </param>
    public RttEstimator(long minRtoUs = DefaultMinRtoUs, long maxRtoUs = DefaultMaxRtoUs, long initialRtoUs = DefaultInitialRtoUs,
        long clockGranularityUs = 1, bool minOnVariance = false)
    {
        _minOnVariance = minOnVariance;
        if (minRtoUs <= 0) throw new ArgumentOutOfRangeException(nameof(minRtoUs), minRtoUs, "the minimum RTO must be positive");
        if (maxRtoUs < minRtoUs)
            throw new ArgumentOutOfRangeException(nameof(maxRtoUs), maxRtoUs, $"the maximum RTO is below the minimum RTO {minRtoUs} µs");
        if (initialRtoUs <= 0) throw new ArgumentOutOfRangeException(nameof(initialRtoUs), initialRtoUs, "the initial RTO must be positive");
        if (clockGranularityUs <= 0)
            throw new ArgumentOutOfRangeException(nameof(clockGranularityUs), clockGranularityUs, "the clock granularity must be positive");
        _minRtoUs = minRtoUs;
        _maxRtoUs = maxRtoUs;
        _initialRtoUs = initialRtoUs;
        _granularityUs = clockGranularityUs;
        Reset();
    }

    /// <summary>SRTT in µs (0 before the first sample).</summary>
    public long SrttUs => Round(_srttFix);
    /// <summary>RTTVAR in µs (0 before the first sample).</summary>
    public long RttVarUs => Round(_rttvarFix);
    /// <summary>The RTO without backoff: SRTT + max(G, K·RTTVAR), clamped.</summary>
    public long BaseRtoUs => _baseRtoUs;
    /// <summary>The RTO to arm the timer with: the base RTO doubled <see cref="Backoff"/> times, capped at the maximum.</summary>
    public long RtoUs => Backoff == 0 ? _baseRtoUs : Math.Min(_baseRtoUs << Backoff, _maxRtoUs);
    /// <summary>The smallest sample seen (0 before the first sample).</summary>
    public long MinRttUs { get; private set; }
    /// <summary>The last sample (0 before the first sample).</summary>
    public long LatestRttUs { get; private set; }
    /// <summary><c>icsk_backoff</c>: timeouts since the last sample or <see cref="ResetBackoff"/>.</summary>
    public int Backoff { get; private set; }
    /// <summary>Whether a sample has been taken.</summary>
    public bool HasSample { get; private set; }
    /// <summary>Samples refused because they were negative (a caller's clock or bookkeeping error).</summary>
    public long RejectedSamples { get; private set; }
    /// <summary>The RTO clamps and initial value.</summary>
    public long MinRtoUs => _minRtoUs;
    public long MaxRtoUs => _maxRtoUs;
    public long InitialRtoUs => _initialRtoUs;

    /// <summary>Forgets every sample and the backoff (a new connection on a reused object).</summary>
    public void Reset()
    {
        _srttFix = _rttvarFix = 0;
        _baseRtoUs = Math.Clamp(_initialRtoUs, _minRtoUs, _maxRtoUs);
        MinRttUs = LatestRttUs = 0;
        Backoff = 0;
        HasSample = false;
    }

    /// <summary>
    /// Takes an RTT measurement (RFC 6298 2.2 for the first, 2.3 after; Karn's rule — no samples from
    /// retransmitted segments — is the caller's) and resets the backoff. A zero sample counts as 1 µs
    /// (the clock's resolution); a negative one is refused and counted.
    /// </summary>
    public void AddSample(long rttUs)
    {
        if (rttUs < 0)
        {
            RejectedSamples++;
            return;
        }
        if (rttUs == 0) rttUs = 1;
        long r = rttUs << FixShift;
        if (!HasSample)
        {
            _srttFix = r;
            _rttvarFix = r / 2;
            HasSample = true;
            MinRttUs = rttUs;
        }
        else
        {
            // RTTVAR first, from the SRTT before this sample (RFC 6298 2.3).
            long err = Math.Abs(_srttFix - r);
            _rttvarFix += (err - _rttvarFix) / 4;
            _srttFix += (r - _srttFix) / 8;
            if (rttUs < MinRttUs) MinRttUs = rttUs;
        }
        LatestRttUs = rttUs;
        long rto = Round(_srttFix) + Math.Max(_minOnVariance ? _minRtoUs : _granularityUs, Round(K * _rttvarFix));
        _baseRtoUs = Math.Clamp(rto, _minRtoUs, _maxRtoUs);
        Backoff = 0;
    }

    /// <summary>The retransmission timer expired (RFC 6298 5.5): the RTO doubles, up to the maximum.</summary>
    public void OnTimeout()
    {
        // Stop counting once the cap is reached, so the shift never overflows.
        if (RtoUs < _maxRtoUs) Backoff++;
    }

    /// <summary>Clears the backoff (an ACK for new data arrived, RFC 6298 5.7's "back off until acknowledged").</summary>
    public void ResetBackoff() => Backoff = 0;

    private static long Round(long fix) => (fix + (1 << (FixShift - 1))) >> FixShift;

    public override string ToString() =>
        $"srtt {SrttUs} µs, rttvar {RttVarUs} µs, rto {RtoUs} µs (backoff {Backoff}), min rtt {MinRttUs} µs";
}
