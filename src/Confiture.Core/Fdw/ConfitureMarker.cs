namespace Confiture.Core.Fdw;

/// <summary>
/// The comment Confiture puts on the server and schema it creates, so that a later run can tell its
/// own objects (to take over or drop) from a user's (never touched).
/// </summary>
internal static class ConfitureMarker
{
    public const string Comment = "Created by Confiture; Remove-ConfitureFdw drops it.";

    public static bool IsOurs(string? comment) =>
        comment is not null && comment.StartsWith("Created by Confiture", StringComparison.Ordinal);
}
