<#
    Packaging for Azure Automation: a complete manifest, out/Confiture.zip (build.ps1 Package)
    importable from an unzipped folder in a fresh process, and examples/runbook.ps1 run as a job
    would run it, against the test servers.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force
    $root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $manifestPath = Get-ModuleManifestPath
}

Describe 'The module manifest' {
    BeforeAll {
        $manifest = Test-ModuleManifest -Path $manifestPath -ErrorAction Stop
        $data = Import-PowerShellDataFile -Path $manifestPath
    }

    It 'passes Test-ModuleManifest, for PowerShell 7.4+ Core only' {
        $manifest.Name | Should -Be 'Confiture'
        $manifest.Version | Should -BeGreaterThan ([version]'0.0')
        $manifest.PowerShellVersion | Should -Be ([version]'7.4')
        $manifest.CompatiblePSEditions | Should -Be @('Core')
    }

    It 'exports exactly the cmdlets of the design, by name, and nothing else' {
        $data.CmdletsToExport | Should -Not -Contain '*'
        @($data.CmdletsToExport) | Sort-Object | Should -Be @(
            'Connect-ConfitureDatabase', 'Enable-ConfitureFdw', 'Export-ConfitureReport', 'Get-ConfitureMigration', 'Get-ConfitureStrategy',
            'Invoke-ConfitureTableMigration', 'Remove-ConfitureFdw', 'Sync-ConfitureMigration', 'Test-ConfitureCutover', 'Test-ConfitureMigration')
        @($data.FunctionsToExport).Count | Should -Be 0
        @($data.AliasesToExport).Count | Should -Be 0
        @($data.VariablesToExport).Count | Should -Be 0
    }

    It 'loads the format views' {
        $data.FormatsToProcess | Should -Be @('Confiture.Format.ps1xml')
        Join-Path (Split-Path $manifestPath) 'Confiture.Format.ps1xml' | Should -Exist
    }

    It 'has the gallery metadata: tags, licence file, release notes, and no address the project does not have' {
        $manifest.Tags | Should -Contain 'PostgreSQL'
        $manifest.Tags | Should -Contain 'PSEdition_Core'
        $manifest.Tags | Should -Contain 'AzureAutomation'
        # The licence travels in the module; no licence or project address is invented.
        Join-Path (Split-Path $manifestPath) 'LICENSE.txt' | Should -FileContentMatch 'MIT License'
        Get-Content -Raw (Join-Path $root 'LICENSE') | Should -BeExactly (Get-Content -Raw (Join-Path (Split-Path $manifestPath) 'LICENSE.txt'))
        $manifest.LicenseUri | Should -BeNullOrEmpty
        $manifest.ProjectUri | Should -BeNullOrEmpty
        foreach ($cmdlet in $data.CmdletsToExport) { $manifest.ReleaseNotes + $manifest.Description | Should -Match ($cmdlet -replace '-.*$', '') }
        $manifest.ReleaseNotes | Should -Match $manifest.Version.ToString()
        $manifest.Description | Should -Not -BeNullOrEmpty
        $manifest.Author | Should -Not -BeNullOrEmpty
    }
}

Describe 'out/Confiture.zip' {
    BeforeAll {
        $zip = Join-Path $root 'out/Confiture.zip'
        $dll = Join-Path (Split-Path $manifestPath) 'Confiture.PowerShell.dll'
        if (-not (Test-Path $zip) -or (Get-Item $zip).LastWriteTimeUtc -lt (Get-Item $dll).LastWriteTimeUtc) {
            $package = Invoke-ChildPwsh -WorkingDirectory $root -Script "& ./build.ps1 Package; exit `$LASTEXITCODE" -TimeoutSeconds 600
            $package.ExitCode | Should -Be 0 -Because $package.Text
        }
        $unzipped = Join-Path ([IO.Path]::GetTempPath()) ('confiture-package-' + [Guid]::NewGuid().ToString('N'))
        Expand-Archive -LiteralPath $zip -DestinationPath $unzipped
    }

    AfterAll {
        if ($unzipped) { Remove-Item -LiteralPath $unzipped -Recurse -Force -ErrorAction Ignore }
    }

    It 'holds the module folder, named like the manifest, at its root' {
        @(Get-ChildItem -LiteralPath $unzipped).Name | Should -Be @('Confiture')
        foreach ($file in 'Confiture.psd1', 'Confiture.PowerShell.dll', 'Confiture.Format.ps1xml',
            'en-US/Confiture.PowerShell.dll-Help.xml', 'en-US/about_Confiture.help.txt',
            'Dependencies/Confiture.Core.dll', 'Dependencies/Npgsql.dll') {
            Join-Path $unzipped "Confiture/$file" | Should -Exist
        }
        # Npgsql beside the cmdlets would load into the shared context: it must stay in Dependencies.
        Join-Path $unzipped 'Confiture/Npgsql.dll' | Should -Not -Exist
        Test-ModuleManifest -Path (Join-Path $unzipped 'Confiture/Confiture.psd1') -ErrorAction Stop | Should -Not -BeNullOrEmpty
    }

    It 'imports from the unzipped folder in a fresh process and connects' {
        $child = Invoke-ChildPwsh -Script @'
$ErrorActionPreference = 'Stop'
$env:PSModulePath = $env:UNZIPPED + [IO.Path]::PathSeparator + $env:PSModulePath
Import-Module Confiture
$module = Get-Module Confiture
$connection = Connect-ConfitureDatabase -ConnectionString $env:CONFITURE_TEST_SOURCE -Name packaged
'<json>' + ([ordered]@{
    Base      = $module.ModuleBase
    Version   = $module.Version.ToString()
    Commands  = @((Get-Command -Module Confiture).Name | Sort-Object)
    Server    = $connection.ServerVersion
    Table     = ($connection | Format-Table | Out-String)
    Synopsis  = (Get-Help Invoke-ConfitureTableMigration).Synopsis
} | ConvertTo-Json -Compress)
'@ -Environment @{ UNZIPPED = $unzipped; CONFITURE_TEST_SOURCE = $env:CONFITURE_TEST_SOURCE }
        $child.ExitCode | Should -Be 0 -Because $child.Text
        $result = (($child.Output -split "`r?`n") | Where-Object { $_.StartsWith('<json>') } | Select-Object -Last 1).Substring(6) | ConvertFrom-Json
        $result.Base | Should -Be (Join-Path $unzipped 'Confiture')
        $result.Commands | Should -Be @((Import-PowerShellDataFile -Path $manifestPath).CmdletsToExport | Sort-Object)
        $result.Server | Should -Match '^\d+\.\d+'
        $result.Table | Should -Match 'packaged'
        $result.Synopsis | Should -Match 'one target transaction'
    }
}

Describe 'The .nupkg, through a local PSResourceGet repository' -Tag IntegrationTests {
    BeforeAll {
        $data = Import-PowerShellDataFile -Path $manifestPath
        $nupkg = Join-Path $root "out/Confiture.$($data.ModuleVersion).nupkg"
        $pair = New-TestDatabasePair
        New-UsersTables -Pair $pair -Rows 120
        $work = Join-Path ([IO.Path]::GetTempPath()) ('confiture-gallery-' + [Guid]::NewGuid().ToString('N'))
        # .NET reads XDG_DATA_HOME only when the folder exists.
        New-Item -ItemType Directory -Path (Join-Path $work 'data') | Out-Null
        $peer = Get-FdwAddressParameter $pair
    }

    AfterAll {
        if ($work) { Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction Ignore }
        if ($pair) { Remove-TestDatabasePair $pair }
    }

    It 'is made by build.ps1 Package, with the module and its licence' {
        $nupkg | Should -Exist
        $entries = [IO.Compression.ZipFile]::OpenRead($nupkg)
        try {
            $names = @($entries.Entries.FullName)
            foreach ($file in 'Confiture.psd1', 'Confiture.PowerShell.dll', 'Confiture.Format.ps1xml', 'LICENSE.txt', 'Dependencies/Npgsql.dll', 'Confiture.nuspec') {
                $names | Should -Contain $file
            }
        }
        finally { $entries.Dispose() }
    }

    It 'publishes to a folder repository, installs from it into a fresh PSModulePath, and runs the quick example' {
        # A child with its own PSResourceGet settings (XDG_DATA_HOME) and a PSModulePath of only the
        # folder it installs into and PowerShell's own modules: the module can come from nowhere else.
        $child = Invoke-ChildPwsh -Script @'
$ErrorActionPreference = 'Stop'
$repository = New-Item -ItemType Directory -Path (Join-Path $env:WORK 'repository')
$installed = New-Item -ItemType Directory -Path (Join-Path $env:WORK 'modules')
$env:PSModulePath = $installed.FullName + [IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules')
Register-PSResourceRepository -Name ConfitureLocal -Uri $repository.FullName -Trusted
Publish-PSResource -Path $env:MODULE -Repository ConfitureLocal -SkipDependenciesCheck
$found = Find-PSResource -Name Confiture -Repository ConfitureLocal
Save-PSResource -Name Confiture -Repository ConfitureLocal -Path $installed.FullName -TrustRepository
$peer = @{}
if ($env:PEER_HOST) { $peer.SourceHostForTarget = $env:PEER_HOST }
if ($env:PEER_PORT) { $peer.SourcePortForTarget = [int]$env:PEER_PORT }
$printed = & $env:QUICK_START -SourceConnectionString $env:SOURCE_CS -TargetConnectionString $env:TARGET_CS @peer 6>&1 | Out-String
$module = Get-Module Confiture
'<json>' + ([ordered]@{
    Published = @(Get-ChildItem $repository.FullName -Filter *.nupkg).Name
    Found     = "$($found.Name) $($found.Version)"
    Base      = $module.ModuleBase
    Printed   = $printed
} | ConvertTo-Json -Compress)
'@ -Environment @{
            WORK        = $work
            XDG_DATA_HOME = (Join-Path $work 'data')
            MODULE      = (Split-Path $manifestPath)
            QUICK_START = (Join-Path $root 'examples/quick-start.ps1')
            SOURCE_CS   = $pair.SourceMigrator
            TARGET_CS   = $pair.TargetMigrator
            PEER_HOST   = $peer.SourceHostForTarget
            PEER_PORT   = $peer.SourcePortForTarget
        } -WorkingDirectory $work -TimeoutSeconds 600
        $child.ExitCode | Should -Be 0 -Because $child.Text
        $result = (($child.Output -split "`r?`n") | Where-Object { $_.StartsWith('<json>') } | Select-Object -Last 1).Substring(6) | ConvertFrom-Json
        $result.Published | Should -Be @("Confiture.$($data.ModuleVersion).nupkg")
        $result.Found | Should -Be "Confiture $($data.ModuleVersion)"
        $result.Base | Should -BeLike (Join-Path $work 'modules/Confiture/*')
        $result.Printed | Should -Match 'RowsMigrated\s*:\s*120'
        $result.Printed | Should -Match 'Match\s*:\s*True'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM users' | Should -Be '120'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM pg_foreign_server' | Should -Be '0'
        # The repository was registered in the child's own settings, not the user's.
        Get-ChildItem -Path (Join-Path $work 'data') -Recurse -Filter 'PSResourceRepository.xml' | Should -FileContentMatch 'ConfitureLocal'
    }
}

Describe 'examples/runbook.ps1' {
    BeforeAll {
        $runbook = Join-Path $root 'examples/runbook.ps1'
        $pair = New-NativeFixture -NoConnect
        $source = Get-TestServer Source
        $target = Get-TestServer Target
        $environment = @{
            RUNBOOK                    = $runbook
            CONFITURE_MODULE           = $manifestPath
            CONFITURE_SOURCE_HOST      = $source.Host
            CONFITURE_SOURCE_PORT      = $source.Port
            CONFITURE_SOURCE_DATABASE  = $pair.Database
            CONFITURE_TARGET_HOST      = $target.Host
            CONFITURE_TARGET_PORT      = $target.Port
            CONFITURE_TARGET_DATABASE  = $pair.Database
            PEER_HOST                  = $pair.SourceHostForTarget
            PEER_PORT                  = $pair.SourcePortForTarget
            MIGRATOR_USER              = $pair.MigratorUser
            MIGRATOR_PASSWORD          = $pair.MigratorPassword
        }
        # Runs the runbook in a fresh process as a job would; -Automation defines the sandbox's
        # Get-AutomationPSCredential (recording the assets asked for), else credentials come from
        # the environment variables of local runs.
        function Invoke-Runbook([switch] $Automation, [string] $Arguments = '') {
            $script = @'
$ErrorActionPreference = 'Stop'
$global:assets = @()
if ($env:AUTOMATION -eq '1') {
    function global:Get-AutomationPSCredential([string] $Name) {
        $global:assets += $Name
        [pscredential]::new($env:MIGRATOR_USER, (ConvertTo-SecureString $env:MIGRATOR_PASSWORD -AsPlainText -Force))
    }
}
else {
    $env:CONFITURE_SOURCE_USER = $env:MIGRATOR_USER; $env:CONFITURE_SOURCE_PASSWORD = $env:MIGRATOR_PASSWORD
    $env:CONFITURE_TARGET_USER = $env:MIGRATOR_USER; $env:CONFITURE_TARGET_PASSWORD = $env:MIGRATOR_PASSWORD
}
$peer = @{}
if ($env:PEER_HOST) { $peer.SourceHostForTarget = $env:PEER_HOST }
if ($env:PEER_PORT) { $peer.SourcePortForTarget = [int]$env:PEER_PORT }
try {
    & $env:RUNBOOK -Tables 'users, Order Lines,orders' -SslMode Disable -ModulePath $env:CONFITURE_MODULE @peer ARGUMENTS
}
finally {
    "assets: $($global:assets -join ',')"
}
'@.Replace('ARGUMENTS', $Arguments)
            $variables = $environment.Clone()
            $variables.AUTOMATION = if ($Automation) { '1' } else { '0' }
            Invoke-ChildPwsh -Script $script -Environment $variables
        }

        function Get-LeftOnTarget {
            (Invoke-TestSql -Side Target -Database $pair.Database -Sql @'
SELECT (SELECT count(*) FROM pg_foreign_server) + (SELECT count(*) FROM pg_user_mappings) + (SELECT count(*) FROM pg_foreign_table)
'@) -join ''
        }
    }

    AfterAll {
        if ($pair) { Remove-TestDatabasePair $pair }
    }

    It 'migrates and verifies the tables with the Automation credential assets, then cleans up' {
        $run = Invoke-Runbook -Automation
        $run.ExitCode | Should -Be 0 -Because $run.Text
        $run.Output | Should -Match 'assets: ConfitureSource,ConfitureTarget'
        $run.Output | Should -Match 'Migrated and verified 3 table\(s\), 125 rows'
        $run.Output | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT (SELECT count(*) FROM users) || '','' || (SELECT count(*) FROM "Order Lines") || '','' || (SELECT count(*) FROM orders) || '','' || (SELECT count(*) FROM "it''s")' |
            Should -Be '25,40,60,0'
        Get-LeftOnTarget | Should -Be '0'
    }

    It 'runs again locally, with credentials from the environment and -Truncate' {
        $run = Invoke-Runbook -Arguments '-Truncate'
        $run.ExitCode | Should -Be 0 -Because $run.Text
        $run.Output | Should -Match 'assets: \r?\n'
        $run.Output | Should -Match 'Migrated and verified 3 table\(s\)'
        Get-LeftOnTarget | Should -Be '0'
    }

    It 'fails the job when verification fails, and still cleans up' {
        # A trigger that drops some rows on the target: the load succeeds, the counts differ.
        Invoke-TestSql -Side Target -Database $pair.Database -Sql @'
CREATE FUNCTION skip_even() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id % 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER skip_even BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION skip_even();
'@ | Out-Null
        try {
            $run = Invoke-Runbook -Arguments '-Truncate'
            $run.ExitCode | Should -Not -Be 0
            $run.Text | Should -Match 'Verification failed: orders \(source 60, target 30 rows\)'
            Get-LeftOnTarget | Should -Be '0'
        }
        finally {
            Invoke-TestSql -Side Target -Database $pair.Database -Sql 'DROP TRIGGER skip_even ON orders; DROP FUNCTION skip_even()' | Out-Null
        }
    }

    It 'keeps verbose text and progress bars out of the job' {
        $run = Invoke-Runbook -Arguments '-Truncate'
        $run.ExitCode | Should -Be 0 -Because $run.Text
        $run.Text | Should -Not -Match 'VERBOSE:'
        $text = Get-Content -Raw $runbook
        $text | Should -Match "(?m)^\`$VerbosePreference = 'SilentlyContinue'"
        $text | Should -Match "(?m)^\`$ProgressPreference = 'SilentlyContinue'"
    }
}
