namespace Confiture.Core.Connections;

/// <summary>What a server said about the session Confiture opened on it.</summary>
/// <param name="User">The effective user.</param>
/// <param name="Database">The database.</param>
/// <param name="IsSuperuser">Whether that user is a superuser.</param>
/// <param name="ServerVersion">The server's version string.</param>
/// <param name="Version">The server's version, comparable.</param>
public sealed record ServerDescription(string User, string Database, bool IsSuperuser, string ServerVersion, Version Version);
