namespace Netmem.Devices;

/// <summary>Counters of one NAPI context.</summary>
public readonly record struct NapiStats(
    long Schedules, long Missed, long Polls, long Work, long BudgetExhausted, long Completions, long BusyPolls);
