namespace Confiture.Core;

/// <summary>
/// A failure Confiture understands: it carries a stable <see cref="Kind"/>, the object it concerns
/// and what the user can do about it. The original exception, if any, is the inner exception (a
/// server error as a <see cref="PostgresServerException"/>).
/// </summary>
public sealed class ConfitureException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConfitureException(
        ConfitureErrorKind kind,
        string message,
        string? target = null,
        string? recommendedAction = null,
        Exception? innerException = null)
        : base(message, innerException is Npgsql.PostgresException server ? new PostgresServerException(server) : innerException)
    {
        Kind = kind;
        Target = target;
        RecommendedAction = recommendedAction;
    }

    /// <summary>Why it failed; stable across versions.</summary>
    public ConfitureErrorKind Kind { get; }

    /// <summary>The table, schema, server or connection the failure concerns.</summary>
    public string? Target { get; }

    /// <summary>What to do next, in one sentence.</summary>
    public string? RecommendedAction { get; }
}
