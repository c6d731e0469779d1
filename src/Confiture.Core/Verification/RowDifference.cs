namespace Confiture.Core.Verification;

/// <summary>How a row differs between source and target.</summary>
public enum DifferenceKind
{
    /// <summary>On the source, not on the target.</summary>
    Missing,

    /// <summary>On the target, not on the source.</summary>
    Extra,

    /// <summary>On both, with different values.</summary>
    Changed,
}

/// <summary>One row that differs, by its key (the target's primary key, as text).</summary>
/// <param name="Key">The key's text form, e.g. <c>42</c> or <c>(7,abc)</c>.</param>
/// <param name="Kind">How it differs.</param>
public sealed record RowDifference(string Key, DifferenceKind Kind);
