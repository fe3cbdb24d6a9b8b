namespace Netmem.Stack.Tcp;

/// <summary>One iovec element of user memory (<c>struct iovec</c>): a native address and a length.</summary>
public readonly record struct UserIov(nint Address, int Length);
