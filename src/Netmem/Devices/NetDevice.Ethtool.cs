namespace Netmem.Devices;

public abstract partial class NetDevice
{
    /// <summary>Entries in the RSS indirection table (ethtool -x).</summary>
    public const int RssIndirSize = 128;
    /// <summary>Most ntuple rules (rule locations 0..MaxNtupleRules-1).</summary>
    public const int MaxNtupleRules = 128;

    private TcpDataSplit _hdsConfig = TcpDataSplit.Auto;
    private int _hdsThresh;
    private readonly byte[] _rssKey = Toeplitz.DefaultKey.ToArray();
    private int[] _rssIndir = new int[RssIndirSize];
    private bool _rssUserSet;
    private volatile NtupleRule[] _ntuple = [];

    // ---------------- ring parameters and header/data split ----------------

    /// <summary><c>dev->cfg->hds_config</c>: the configured header/data split.</summary>
    public TcpDataSplit HdsConfig => _hdsConfig;
    /// <summary><c>dev->cfg->hds_thresh</c>.</summary>
    public int HdsThresh => Volatile.Read(ref _hdsThresh);

    /// <summary><c>ethtool -g</c>.</summary>
    public EthtoolRingParam GetRingParam() => GetRingParamCore() with { TcpDataSplit = _hdsConfig, HdsThresh = _hdsThresh };

    /// <summary>
    /// <c>ethtool -G</c>: validates like <c>ethnl_set_rings</c> and applies through the driver (which
    /// restarts its queues when it is up). Errors: EINVAL for ring sizes outside 1..max or for disabling
    /// split or raising hds-thresh while a memory provider is bound, ERANGE for hds-thresh over its
    /// maximum, EOPNOTSUPP for split on a device that cannot do it.
    /// </summary>
    public void SetRingParam(EthtoolRingParam wanted)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        var cur = GetRingParamCore();
        if (wanted.RxPending < 1 || wanted.RxPending > cur.RxMaxPending || wanted.TxPending < 1 || wanted.TxPending > cur.TxMaxPending)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: requested ring size exceeds maximum (rx {wanted.RxPending} of 1..{cur.RxMaxPending}, tx {wanted.TxPending} of 1..{cur.TxMaxPending})");
        if (wanted.TcpDataSplit != _hdsConfig && !SupportsTcpDataSplit)
            throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{Name}: setting tcp-data-split is not supported");
        if (wanted.HdsThresh < 0 || wanted.HdsThresh > cur.HdsThreshMax)
            throw new NetmemErrnoException(Errno.ERANGE, $"{Name}: hds-thresh {wanted.HdsThresh} exceeds hds-thresh-max {cur.HdsThreshMax}");
        bool mp = HasMemoryProvider();
        if (mp && wanted.TcpDataSplit != TcpDataSplit.On)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: can't disable tcp-data-split while device has memory provider enabled");
        if (mp && wanted.HdsThresh != 0)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: can't set non-zero hds-thresh while device has memory provider enabled");

        var oldSplit = _hdsConfig;
        int oldThresh = _hdsThresh;
        _hdsConfig = wanted.TcpDataSplit;
        Volatile.Write(ref _hdsThresh, wanted.HdsThresh);
        var err = SetRingParamCore(wanted);
        if (err != Errno.None)
        {
            _hdsConfig = oldSplit;
            Volatile.Write(ref _hdsThresh, oldThresh);
            throw new NetmemErrnoException(err, $"{Name}: the driver refused the ring settings");
        }
    }

    /// <summary>Whether the driver can change tcp-data-split (<c>ETHTOOL_RING_USE_TCP_DATA_SPLIT</c>).</summary>
    protected virtual bool SupportsTcpDataSplit => false;
    /// <summary><c>get_ringparam</c>: sizes, maxima, buffer length, whether split is active, hds-thresh-max.</summary>
    protected abstract EthtoolRingParam GetRingParamCore();
    /// <summary><c>set_ringparam</c>: apply (the core has already stored the split settings).</summary>
    protected virtual Errno SetRingParamCore(EthtoolRingParam wanted) => Errno.EOPNOTSUPP;

    // ---------------- channels ----------------

    /// <summary><c>ethtool -l</c>.</summary>
    public EthtoolChannels GetChannels() => new()
    {
        MaxCombined = MaxQueues,
        CombinedCount = RealNumRxQueues,
    };

    /// <summary>
    /// <c>ethtool -L combined N</c>: EINVAL for 0 or more than the maximum, for leaving out a queue that
    /// has a memory provider bound, or for leaving out a queue the user's RSS table points at.
    /// </summary>
    public void SetChannels(int combined)
    {
        if (combined < 1 || combined > MaxQueues)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: requested channel count {combined} exceeds maximum {MaxQueues} (or is zero)");
        for (int i = combined; i < RealNumRxQueues; i++)
            if (_rx[i].MemoryProvider is not null)
                throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: requested channel counts are too low for existing memory provider setting (rx queue {i} is bound)");
        if (_rssUserSet && _rssIndir.Any(q => q >= combined))
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: requested channel counts are too low for existing indirection table settings");
        foreach (var r in _ntuple)
            if (r.Action >= combined)
                throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: ntuple rule {r.Location} steers to rx queue {r.Action}, beyond {combined} channels");
        if (combined == RealNumRxQueues) return;
        var err = SetChannelsCore(combined);
        if (err != Errno.None) throw new NetmemErrnoException(err, $"{Name}: the driver refused {combined} channels");
        if (!_rssUserSet) FillDefaultIndir(combined);
    }

    /// <summary>
    /// <c>set_channels</c>: the driver stops, calls <see cref="SetRealNumQueues"/>, and starts again.
    /// </summary>
    protected virtual Errno SetChannelsCore(int combined) => Errno.EOPNOTSUPP;

    // ---------------- RSS ----------------

    /// <summary>The RSS hash key (ethtool -x), 40 bytes.</summary>
    public ReadOnlySpan<byte> RssKey => _rssKey;
    /// <summary>The RSS indirection table: hash % 128 -> RX queue.</summary>
    public ReadOnlySpan<int> RssIndir => Volatile.Read(ref _rssIndir);

    /// <summary>
    /// <c>ethtool -X</c>: sets the indirection table and/or key. EINVAL when the table has the wrong size or
    /// names a queue that does not exist, or the key is not 40 bytes.
    /// </summary>
    public void SetRxfh(ReadOnlySpan<int> indir, ReadOnlySpan<byte> key = default)
    {
        if (!indir.IsEmpty)
        {
            if (indir.Length != RssIndirSize)
                throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: the indirection table has {RssIndirSize} entries, got {indir.Length}");
            foreach (int q in indir)
                if ((uint)q >= (uint)RealNumRxQueues)
                    throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: indirection table names rx queue {q}; the device has {RealNumRxQueues}");
        }
        if (!key.IsEmpty && key.Length != Toeplitz.KeyLength)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: the RSS key is {Toeplitz.KeyLength} bytes, got {key.Length}");
        if (!key.IsEmpty) key.CopyTo(_rssKey);
        if (!indir.IsEmpty)
        {
            Volatile.Write(ref _rssIndir, indir.ToArray());
            _rssUserSet = true;
        }
    }

    /// <summary><c>ethtool -X default</c>: spread the table evenly over the RX queues again.</summary>
    public void ResetRxfh()
    {
        _rssUserSet = false;
        FillDefaultIndir(RealNumRxQueues);
    }

    private void FillDefaultIndir(int queues)
    {
        var t = new int[RssIndirSize];
        for (int i = 0; i < t.Length; i++) t[i] = i % queues; // ethtool_rxfh_indir_default
        Volatile.Write(ref _rssIndir, t);
    }

    // ---------------- ntuple steering ----------------

    /// <summary>The ntuple rules, ordered by location (the hardware matches the lowest location first).</summary>
    public ReadOnlySpan<NtupleRule> NtupleRules => _ntuple;

    /// <summary>
    /// <c>ethtool -N ... loc L</c>: adds or replaces the rule at its location. EOPNOTSUPP when ntuple
    /// filters are off, EINVAL for a location outside 0..127 or an action queue that does not exist.
    /// </summary>
    public void AddNtupleRule(NtupleRule rule)
    {
        if ((Features & NetdevFeatures.Ntuple) == 0)
            throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{Name}: ntuple-filters is off (ethtool -K {Name} ntuple on)");
        if ((uint)rule.Location >= MaxNtupleRules)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: rule location {rule.Location} is outside 0..{MaxNtupleRules - 1}");
        if (rule.Action != NtupleRule.ActionDrop && (uint)rule.Action >= (uint)RealNumRxQueues)
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: rule action rx queue {rule.Action} does not exist ({RealNumRxQueues} queues)");
        if (rule.FlowType is not (NtupleFlowType.Tcp4 or NtupleFlowType.Udp4))
            throw new NetmemErrnoException(Errno.EINVAL, $"{Name}: flow type {rule.FlowType} is not supported (tcp4, udp4)");
        lock (_rssKey)
        {
            var list = _ntuple.Where(r => r.Location != rule.Location).Append(rule).OrderBy(r => r.Location).ToArray();
            _ntuple = list;
        }
    }

    /// <summary><c>ethtool -N delete L</c>: ENOENT when no rule is there.</summary>
    public void DeleteNtupleRule(int location)
    {
        lock (_rssKey)
        {
            if (!_ntuple.Any(r => r.Location == location))
                throw new NetmemErrnoException(Errno.ENOENT, $"{Name}: no ntuple rule at location {location}");
            _ntuple = _ntuple.Where(r => r.Location != location).ToArray();
        }
    }

    /// <summary>
    /// Picks the RX queue for a frame as the hardware does: the first matching ntuple rule when ntuple is
    /// on (-1 = drop), otherwise RSS over the indirection table (queue 0 for non-IP). Returns the queue and
    /// the RSS hash (0 when none was computed).
    /// </summary>
    public int SelectRxQueue(in FlowKeys keys, out uint hash, out bool steered)
    {
        steered = false;
        hash = 0;
        if ((Features & NetdevFeatures.Ntuple) != 0)
        {
            foreach (ref readonly var r in _ntuple.AsSpan())
                if (r.Matches(keys))
                {
                    steered = true;
                    return r.Action;
                }
        }
        if (!keys.IsIpv4) return 0;
        hash = Toeplitz.HashIpv4(_rssKey, keys.SrcAddr, keys.DstAddr, keys.SrcPort, keys.DstPort, keys.HasPorts);
        return Volatile.Read(ref _rssIndir)[hash % RssIndirSize];
    }
}
