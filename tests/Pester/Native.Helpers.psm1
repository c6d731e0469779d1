<#
    Helpers for the Native.*.Tests.ps1 files (help, formats, completion, WhatIf, errors, isolation,
    packaging): a fresh PowerShell child process, host output captured, and a small two-database
    fixture with awkward table names.
#>

Set-StrictMode -Version Latest

function Invoke-ChildPwsh {
    <#
        Runs a script in a fresh PowerShell process (no profile, no console) and returns its exit
        code and its output. Values reach the script as environment variables, never on the command
        line. Works under `dotnet pwsh` (a local tool) as under an installed pwsh.
    #>
    param(
        [Parameter(Mandatory)][string] $Script,
        [hashtable] $Environment = @{},
        [string] $WorkingDirectory = (Get-Location).Path,
        [int] $TimeoutSeconds = 300
    )
    $info = [System.Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
    if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { $info.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
    foreach ($argument in '-NoProfile', '-NonInteractive', '-OutputFormat', 'Text', '-EncodedCommand', [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($Script))) {
        $info.ArgumentList.Add($argument)
    }
    $info.WorkingDirectory = $WorkingDirectory
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.UseShellExecute = $false
    # Plain text: no colour codes to match around.
    $info.Environment['NO_COLOR'] = '1'
    foreach ($name in $Environment.Keys) { $info.Environment[$name] = [string]$Environment[$name] }
    $process = [System.Diagnostics.Process]::Start($info)
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        $process.Kill($true)
        throw "The child PowerShell did not finish in $TimeoutSeconds s."
    }
    $process.WaitForExit()
    [pscustomobject]@{
        ExitCode = $process.ExitCode
        Output   = $stdout.Result
        Errors   = $stderr.Result
        Text     = $stdout.Result + $stderr.Result
    }
}

function Get-HostOutput {
    <#
        Runs a script block and returns what it wrote to the host (where -WhatIf writes), through a
        transcript; the block's pipeline output is discarded.
    #>
    param([Parameter(Mandatory)][scriptblock] $ScriptBlock)
    $path = Join-Path ([IO.Path]::GetTempPath()) ("confiture-host-{0}.txt" -f [Guid]::NewGuid().ToString('N'))
    Start-Transcript -LiteralPath $path -UseMinimalHeader | Out-Null
    try { & $ScriptBlock | Out-Null }
    finally {
        Stop-Transcript | Out-Null
    }
    try { Get-Content -Raw -LiteralPath $path }
    finally { Remove-Item -LiteralPath $path -Force -ErrorAction Ignore }
}

function New-NativeFixture {
    <#
        Two fresh databases (see New-TestDatabasePair) with the same small schema on both sides:
        users (renamed column on the target), "Order Lines" (a name that needs quotes), "it's",
        orders, and a schema "Sales Data" on the source. The source has rows; the target is empty.
        Returns the pair, with Source/Target connections made by the module as the migration user.
    #>
    param([switch] $NoConnect)
    $pair = New-TestDatabasePair
    Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE users (id int PRIMARY KEY, full_name text NOT NULL, email text);
CREATE TABLE "Order Lines" (id int PRIMARY KEY, qty int NOT NULL);
CREATE TABLE "it's" (id int PRIMARY KEY);
CREATE TABLE orders (id int PRIMARY KEY, note text);
CREATE SCHEMA "Sales Data";
CREATE TABLE "Sales Data".invoices (id int PRIMARY KEY);
INSERT INTO users SELECT g, 'User ' || g, 'u' || g || '@example.org' FROM generate_series(1, 25) g;
INSERT INTO "Order Lines" SELECT g, g % 7 FROM generate_series(1, 40) g;
INSERT INTO "it's" SELECT g FROM generate_series(1, 3) g;
INSERT INTO orders SELECT g, 'note ' || g FROM generate_series(1, 60) g;
GRANT USAGE ON SCHEMA public, "Sales Data" TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA public, "Sales Data" TO PUBLIC;
'@ | Out-Null
    Invoke-TestSql -Side Target -Database $pair.Database -Sql @"
CREATE TABLE users (id int PRIMARY KEY, full_name text NOT NULL, email text);
CREATE TABLE "Order Lines" (id int PRIMARY KEY, qty int NOT NULL);
CREATE TABLE "it's" (id int PRIMARY KEY);
CREATE TABLE orders (id int PRIMARY KEY, note text);
CREATE SCHEMA archive AUTHORIZATION $($pair.MigratorUser);
ALTER TABLE users OWNER TO $($pair.MigratorUser);
ALTER TABLE "Order Lines" OWNER TO $($pair.MigratorUser);
ALTER TABLE "it's" OWNER TO $($pair.MigratorUser);
ALTER TABLE orders OWNER TO $($pair.MigratorUser);
"@ | Out-Null
    $fdw = @{}
    if ($pair.SourceHostForTarget) { $fdw.SourceHostForTarget = $pair.SourceHostForTarget }
    if ($pair.SourcePortForTarget) { $fdw.SourcePortForTarget = [int]$pair.SourcePortForTarget }
    $pair | Add-Member -NotePropertyName FdwParameters -NotePropertyValue $fdw
    if (-not $NoConnect) {
        $pair | Add-Member -NotePropertyName Source -NotePropertyValue (Connect-ConfitureDatabase -ConnectionString $pair.SourceMigrator -Name source)
        $pair | Add-Member -NotePropertyName Target -NotePropertyValue (Connect-ConfitureDatabase -ConnectionString $pair.TargetMigrator -Name target)
    }
    $pair
}

function Get-TargetState {
    <# What a -WhatIf must leave unchanged on the target: foreign servers, user mappings, foreign tables, schemas, and each table's rows. #>
    param([Parameter(Mandatory)] $Pair)
    (Invoke-TestSql -Side Target -Database $Pair.Database -Sql @'
SELECT concat_ws(' ',
  (SELECT count(*) FROM pg_foreign_server), (SELECT count(*) FROM pg_user_mappings), (SELECT count(*) FROM pg_foreign_table),
  (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%'),
  (SELECT count(*) FROM users), (SELECT count(*) FROM "Order Lines"), (SELECT count(*) FROM "it's"), (SELECT count(*) FROM orders))
'@) -join ''
}

Export-ModuleMember -Function Invoke-ChildPwsh, Get-HostOutput, New-NativeFixture, Get-TargetState
